"""metrics.py on inputs whose answers are known by construction."""

import numpy as np
import pytest

from binarygan_tf.evaluation import metrics


def _gaussian(n, dim, seed, shift=0.0, scale=1.0):
    return np.random.default_rng(seed).standard_normal((n, dim)) * scale + shift


# ---------------------------------------------------------------- Frechet distance
def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = _gaussian(2000, 16, 0)
    assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_matches_the_closed_form():
    # Isotropic Gaussians: FD = |mu_a - mu_b|^2 + d (s_a - s_b)^2.
    a = _gaussian(200000, 4, 1, shift=0.0, scale=1.0)
    b = _gaussian(200000, 4, 2, shift=0.5, scale=2.0)
    expected = 4 * 0.5**2 + 4 * (1.0 - 2.0) ** 2
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=0.02)


def test_frechet_distance_is_symmetric_and_grows_with_the_shift():
    a = _gaussian(3000, 8, 3)
    near, far = _gaussian(3000, 8, 4, shift=0.1), _gaussian(3000, 8, 5, shift=1.0)
    assert metrics.frechet_distance(a, near) == pytest.approx(
        metrics.frechet_distance(near, a), rel=1e-6
    )
    assert metrics.frechet_distance(a, near) < metrics.frechet_distance(a, far)


# ---------------------------------------------------------------- classifier score, classes
def test_classifier_score_of_confident_balanced_predictions_is_the_class_count():
    probs = np.eye(10)[np.arange(1000) % 10]
    assert metrics.classifier_score(probs) == pytest.approx(10.0, rel=1e-6)


def test_one_class_set_scores_one_and_has_max_share_one():
    probs = np.tile(np.eye(10)[3], (500, 1))
    assert metrics.classifier_score(probs) == pytest.approx(1.0, abs=1e-6)
    dist = metrics.class_distribution(probs)
    assert dist["max_class_share"] == 1.0 and dist["min_class_share"] == 0.0
    assert dist["kl_to_uniform"] == pytest.approx(np.log(10))


def test_uniform_predictions_score_one_and_balanced_classes_have_zero_kl():
    assert metrics.classifier_score(np.full((100, 10), 0.1)) == pytest.approx(1.0)
    dist = metrics.class_distribution(np.eye(10)[np.arange(100) % 10])
    assert dist["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert dist["min_class_share"] == dist["max_class_share"] == pytest.approx(0.1)


# ---------------------------------------------------------------- precision and recall
def test_identical_sets_have_precision_and_recall_one():
    x = _gaussian(500, 8, 6)
    pr = metrics.precision_recall(x, x.copy(), chunk=128)
    assert pr == {"precision": 1.0, "recall": 1.0}


def test_a_collapsed_generator_has_high_precision_and_low_recall():
    real = _gaussian(1000, 2, 7)
    # all fakes near one real point: inside the real manifold, but cover little of it
    fake = real[0] + 0.01 * _gaussian(1000, 2, 8)
    pr = metrics.precision_recall(real, fake, chunk=300)
    assert pr["precision"] > 0.95
    assert pr["recall"] < 0.05


def test_disjoint_sets_have_precision_and_recall_zero():
    real = _gaussian(400, 4, 9)
    fake = _gaussian(400, 4, 10, shift=100.0)
    assert metrics.precision_recall(real, fake) == {"precision": 0.0, "recall": 0.0}


# ---------------------------------------------------------------- binary-ness
def test_binary_fraction_and_density():
    x = np.array([0.0, 1.0, 1.0, 0.3])
    assert metrics.binary_fraction(x) == 0.75
    assert metrics.pixel_density(np.array([0, 1, 1, 0, 0])) == pytest.approx(0.4)


# ---------------------------------------------------------------- artifacts
def test_stray_pixels_are_those_outside_each_images_largest_stroke():
    images = np.zeros((4, 6, 6, 1), np.float32)
    images[0, 1:4, 1] = 1  # a stroke of 3 ...
    images[0, 5, 5] = 1  # ... and a speck: 1 of 4 stray
    images[1, 0, 0] = images[1, 1, 1] = 1  # touching by a corner: one stroke, none stray
    images[2, 0, 5] = images[2, 5, 0] = 1  # two specks: 1 of 2 stray
    # image 3 is empty; image 0's last row does not join image 1's first row
    assert metrics.stray_pixel_share(images) == pytest.approx(2 / 8)
    assert metrics.stray_pixel_share(images[1:2]) == 0.0
    assert metrics.stray_pixel_share(np.zeros((2, 5, 5))) == 0.0
    # [N, H, W] works too, and values at or below the threshold are off
    assert metrics.stray_pixel_share(images[..., 0] * 0.5) == 0.0
    assert metrics.stray_pixel_share(images[..., 0] * 0.6) == pytest.approx(2 / 8)
    on, mask = metrics.on_and_stray_pixels(images)  # the pixels counted, for the figures
    assert on.sum() == 8 and mask.shape == (4, 6, 6) and mask.sum() == 2 and mask[0, 5, 5]
    assert mask[2, 5, 0] and not mask[2, 0, 5]  # of two equal specks, the first is the stroke
    stacked = np.zeros((2, 3, 3))
    stacked[0, 2, 1] = stacked[1, 0, 1] = stacked[0, 0, 0] = 1  # adjacent only across images
    assert metrics.stray_pixel_share(stacked) == pytest.approx(1 / 3)


# ---------------------------------------------------------------- preactivation shape
def test_end_mass_counts_values_near_zero_and_one():
    values = np.array([0.01, 0.04, 0.06, 0.5, 0.94, 0.96, 0.99, 0.3])
    assert metrics.end_mass(values) == pytest.approx(4 / 8)


def test_notch_ratio_of_a_flat_histogram_is_one():
    values = np.linspace(0, 1, 1_000_001)
    assert metrics.notch_ratio(values, 0.05) == pytest.approx(1.0, rel=1e-3)
    assert metrics.notch_ratio(values, 0.005) == pytest.approx(1.0, rel=1e-3)


def test_notch_ratio_sees_a_hole_at_the_threshold():
    values = np.linspace(0, 1, 1_000_001)
    # remove half the values in [0.45, 0.55]: density there halves
    in_band = (values >= 0.45) & (values <= 0.55)
    drop = in_band & (np.arange(len(values)) % 2 == 0)
    assert metrics.notch_ratio(values[~drop], 0.05) == pytest.approx(0.5, rel=1e-3)


def test_notch_ratio_is_nan_without_neighbours():
    assert np.isnan(metrics.notch_ratio(np.array([0.0, 0.5, 1.0]), 0.05))


def test_histogram_shares_sum_to_one_and_end_bins_are_reported():
    values = np.concatenate([np.zeros(30), np.ones(10), np.full(60, 0.5)])
    edges, shares = metrics.preactivation_histogram(values)
    assert len(edges) == metrics.HISTOGRAM_BINS + 1 and shares.sum() == pytest.approx(1.0)
    shape = metrics.preactivation_shape(values)
    assert shape["first_bin_mass"] == pytest.approx(0.3)
    assert shape["last_bin_mass"] == pytest.approx(0.1)
    assert shape["end_mass"] == pytest.approx(0.4)


def _red(rgb):
    return (rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.4) & (rgb[..., 2] < 0.4)


def test_the_stray_pixel_figure_paints_exactly_the_stray_pixels_red(tmp_path):
    import matplotlib.image

    from binarygan_tf.evaluation import plots

    clean = np.zeros((64, 28, 28, 1), np.float32)
    clean[:, 5:20, 10:13] = 1  # one stroke per digit
    specked = clean.copy()
    specked[:, 25, 25] = 1  # and a speck beside it
    path = plots.stray_pixels(
        str(tmp_path / "a.png"), [("clean", clean), ("specked", specked)], "t"
    )
    red = _red(matplotlib.image.imread(path)[..., :3])
    left, right = red[:, : red.shape[1] // 2], red[:, red.shape[1] // 2 :]
    assert left.sum() == 0 and right.sum() > 64  # 64 specks, each drawn over a few pixels
    # a pair per row: the third grid starts the second row, on the left
    path = plots.stray_pixels(
        str(tmp_path / "b.png"), [("clean", clean), ("clean", clean), ("specked", specked)], "t"
    )
    red = _red(matplotlib.image.imread(path)[..., :3])
    rows, cols = red.shape
    assert red[: rows // 2].sum() == 0 and red[rows // 2 :, cols // 2 :].sum() == 0
    assert red[rows // 2 :, : cols // 2].sum() > 64
