"""binary_features.py on tiny made-up binary images whose answers are known by construction.

The images are discs ("modes") at fixed places on a 32 x 32 canvas, each drawn at the nine
one-pixel moves around its place. Discs of different modes never overlap, so a mode is far
from every other and close to its own moves. The features of 0/1 images are integers and
their distances exact in float32, so the exact answers below hold on any CPU.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from binarygan_tf.errors import UserError
from binarygan_tf.evaluation import binary_features
from tests.helpers import ROOT

SIZE = (32, 32)
# Eight places 8 pixels apart: a disc of radius 2 moved by at most 1 reaches 3 pixels from
# its place, so two modes' pixels stay at least 2 apart.
CENTRES = [(r, c) for r in (8, 24) for c in (4, 12, 20, 28)]
MOVES = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)]


def _disc(centre, size=SIZE, radius=2):
    rows, cols = np.mgrid[: size[0], : size[1]]
    return ((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2).astype(np.uint8)


def _every_move(modes, repeat=1):
    """Each mode at each of its nine moves, `repeat` times: 9 * repeat images per mode."""
    return np.stack(
        [
            _disc((CENTRES[m][0] + dr, CENTRES[m][1] + dc))
            for m in modes
            for dr, dc in MOVES
            for _ in range(repeat)
        ]
    )


def _draws(n, modes, seed):
    """n images, each a random mode of `modes` at a random move."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(modes), n)
    moves = rng.integers(0, len(MOVES), n)
    return np.stack(
        [
            _disc((CENTRES[modes[m]][0] + MOVES[k][0], CENTRES[modes[m]][1] + MOVES[k][1]))
            for m, k in zip(picks, moves, strict=True)
        ]
    )


def _flipped(images, rate, seed):
    return images ^ (np.random.default_rng(seed).random(images.shape) < rate).astype(np.uint8)


def _shuffled(images, seed):
    flat = images.reshape(len(images), -1)
    order = np.argsort(np.random.default_rng(seed).random(flat.shape), axis=1)
    return np.take_along_axis(flat, order, axis=1).reshape(images.shape)


ALL = list(range(len(CENTRES)))


# ---------------------------------------------------------------- the features
def test_one_pixel_gives_the_binomial_kernel_at_every_second_place():
    image = np.zeros((1, 9, 9), np.uint8)
    image[0, 4, 4] = 1
    features = binary_features.pyramid_features(image).reshape(5, 5)
    expected = np.zeros((5, 5))
    # [1, 4, 6, 4, 1] outer itself, kept at the even offsets -2, 0, 2: [1, 6, 1].
    expected[1:4, 1:4] = np.outer([1, 6, 1], [1, 6, 1])
    np.testing.assert_array_equal(features, expected)


def test_no_ink_comes_from_beyond_the_border():
    image = np.zeros((1, 9, 9), np.uint8)
    image[0, 0, 0] = 1  # a corner pixel: only the kernel's inner quarter lands in the image
    features = binary_features.pyramid_features(image).reshape(5, 5)
    assert features[0, 0] == 36 and features[0, 1] == 6 and features[1, 1] == 1
    assert features.sum() == 49  # (6 + 1) ** 2: the taps inside the image, at even offsets


def test_features_of_binary_images_are_integers_of_at_most_256():
    images = _draws(50, ALL, seed=0)
    full = np.ones((1, *SIZE), np.uint8)
    features = binary_features.pyramid_features(np.concatenate([images, full]))
    np.testing.assert_array_equal(features, np.round(features))
    assert features.max() == binary_features.KERNEL_MASS == 256  # all ink, away from the edge


@pytest.mark.parametrize(("height", "width"), [(28, 28), (20, 36), (17, 23), (8, 8)])
def test_any_image_size_gives_half_the_rows_and_columns_rounded_up(height, width):
    images = np.zeros((3, height, width, 1), np.uint8)  # the generators' channel axis too
    features = binary_features.pyramid_features(images)
    assert features.shape == (3, -(-height // 2) * -(-width // 2))


def test_images_that_are_not_a_stack_are_refused():
    for bad in (np.zeros((28, 28)), np.zeros((0, 28, 28)), np.zeros((2, 28, 28, 3))):
        with pytest.raises(UserError, match="N x H x W"):
            binary_features.pyramid_features(bad)


# ---------------------------------------------------------------- precision, recall, FD
def test_a_set_against_itself_is_perfect():
    images = _draws(300, ALL, seed=1)
    row = binary_features.compare(images, images)
    assert row["pyramid_precision"] == 1.0 and row["pyramid_recall"] == 1.0
    # FD's only error is the rounding of its eigendecompositions, relative to the trace of
    # the covariances (the largest term it subtracts).
    features = binary_features.pyramid_features(images) / binary_features.KERNEL_MASS
    scale = np.trace(np.cov(features, rowvar=False))
    assert row["pyramid_fd"] == pytest.approx(0.0, abs=1e-9 * scale)


def test_a_far_set_scores_zero():
    """Bars across the canvas's middle row (rows 15-17), where no disc reaches (rows 5-11
    and 21-27): no sample near the data, no datum near the samples."""
    images = _every_move(ALL)
    bars = np.zeros((len(images), *SIZE), np.uint8)
    for i in range(len(bars)):
        bars[i, 15 + i % 3, 2 + i % 9 : 22 + i % 9] = 1
    row = binary_features.compare(images, bars)
    assert row["pyramid_precision"] == 0.0 and row["pyramid_recall"] == 0.0
    assert row["pyramid_fd"] > 1.0


def test_half_the_modes_missing_halves_recall_and_keeps_precision_exactly():
    """Data: 8 modes at all 9 moves. Samples: 4 of the modes at all 9 moves, twice (the same
    number of images). Each sample equals a datum (distance 0: inside its ball), so
    precision is 1; a datum of a present mode equals a sample, one of a missing mode is a
    mode away from every sample, beyond the samples' k-NN radii (distances within a mode),
    so recall is exactly 4 / 8."""
    data = _every_move(ALL)
    samples = _every_move(ALL[:4], repeat=2)
    assert len(samples) == len(data)
    row = binary_features.compare(data, samples)
    assert row["pyramid_precision"] == 1.0
    assert row["pyramid_recall"] == 0.5


def test_half_the_modes_missing_in_random_draws():
    """Data: 400 random draws of 8 modes; samples: 400 of 4 of them. The share of data in the
    present modes is Binomial(400, 1/2) / 400: 0.5 with a standard deviation of 0.025, so
    recall lies within 0.5 +- 0.1 (4 sd); every sample has its very image among the data
    (72 possible images, 400 draws), so precision is 1."""
    data = _draws(400, ALL, seed=2)
    samples = _draws(400, ALL[:4], seed=3)
    row = binary_features.compare(data, samples)
    assert row["pyramid_precision"] == 1.0
    assert 0.4 <= row["pyramid_recall"] <= 0.6


def test_shuffled_pixels_score_far_below_real_images():
    """Another draw of the same modes scores (near) perfect; the same images with each one's
    pixels shuffled (same density) score (near) zero, and their FD is far larger."""
    data, other = _draws(400, ALL, seed=4), _draws(400, ALL, seed=5)
    real = binary_features.compare(data, other)
    shuffled = binary_features.compare(data, _shuffled(other, seed=6))
    assert real["pyramid_precision"] >= 0.95 and real["pyramid_recall"] >= 0.95
    assert shuffled["pyramid_precision"] <= 0.05 and shuffled["pyramid_recall"] <= 0.05
    assert shuffled["pyramid_fd"] > 10 * real["pyramid_fd"]  # measured: 28 times


def test_fd_grows_with_the_share_of_flipped_pixels():
    data = _draws(400, ALL, seed=7)
    fds = [binary_features.compare(data, data)["pyramid_fd"]] + [
        binary_features.compare(data, _flipped(data, rate, seed=8))["pyramid_fd"]
        for rate in (0.01, 0.03, 0.1)
    ]
    assert fds[0] < 1e-9
    assert fds == sorted(fds) and len(set(fds)) == len(fds), fds
    precisions = [
        binary_features.compare(data, _flipped(data, rate, seed=8))["pyramid_precision"]
        for rate in (0.01, 0.1)
    ]
    assert precisions[1] < precisions[0]


@pytest.mark.parametrize(("height", "width"), [(20, 36), (17, 23)])
def test_other_image_sizes_measure_the_same_way(height, width):
    """Discs at the eight places, cut to the smaller canvas; identical sets still perfect,
    half the modes still recall 0.5 (the places that fit the canvas count)."""
    data = _every_move(ALL)[:, :height, :width]
    row = binary_features.compare(data, data)
    assert (row["pyramid_precision"], row["pyramid_recall"]) == (1.0, 1.0)
    inside = [m for m, (r, c) in enumerate(CENTRES) if r + 3 < height and c + 3 < width]
    present = inside[: len(inside) // 2]
    samples = _every_move(present, repeat=2)[:, :height, :width]
    data = _every_move(inside)[:, :height, :width]
    row = binary_features.compare(data, samples)
    assert row["pyramid_precision"] == 1.0
    assert row["pyramid_recall"] == len(present) / len(inside)


def test_samples_of_another_size_are_refused():
    with pytest.raises(UserError, match="one size"):
        binary_features.compare(np.zeros((4, 28, 28)), np.zeros((4, 32, 32)))


def test_sets_too_small_for_k_neighbours_are_refused():
    with pytest.raises(UserError, match="more than k = 3"):
        binary_features.compare(np.zeros((10, 8, 8)), np.zeros((3, 8, 8)))


# ---------------------------------------------------------------- all of it together
def test_data_agnostic_measures_reports_every_measure():
    data = _draws(100, ALL, seed=9)[..., None].astype(np.float32)  # (N, H, W, 1) floats
    samples = _draws(100, ALL, seed=10)
    row = binary_features.data_agnostic_measures(data, samples)
    assert set(row) == {
        "binary_fraction",
        "pixel_density",
        "data_pixel_density",
        "stray_pixel_share",
        "data_stray_pixel_share",
        "pyramid_precision",
        "pyramid_recall",
        "pyramid_fd",
    }
    assert row["binary_fraction"] == 1.0
    assert row["pixel_density"] == samples.mean()
    assert row["data_pixel_density"] == pytest.approx(data.mean())
    assert row["stray_pixel_share"] == row["data_stray_pixel_share"] == 0.0  # one disc each


def test_stray_pixels_see_the_specks_the_blur_forgives():
    """Specks added to the samples: their stray share is the specks' share of the ink."""
    data = _draws(100, ALL, seed=12)
    samples = data.copy()
    samples[:, 0, 0] = samples[:, 31, 31] = 1  # two corner specks, far from every disc
    row = binary_features.data_agnostic_measures(data, samples)
    assert row["data_stray_pixel_share"] == 0.0
    assert row["stray_pixel_share"] == pytest.approx(2 * len(data) / samples.sum())


def test_real_valued_samples_are_measured_and_counted_as_not_binary():
    """A real-valued model's raw output (values between 0 and 1) gets features too."""
    data = _draws(100, ALL, seed=11)
    samples = data * 0.75  # the same shapes, fainter
    row = binary_features.data_agnostic_measures(data, samples)
    assert row["binary_fraction"] == pytest.approx(1.0 - data.mean())  # the 0.75s
    assert row["pyramid_fd"] > 0


# ---------------------------------------------------------------- the validation tool
def test_the_validation_tool_prints_its_table_for_an_npz(tmp_path):
    """tools/validate_binary_features.py (docs/evaluation.md quotes its table) on 200 draws
    of the eight modes, labelled by mode: every row is there, A against itself is perfect."""
    rng = np.random.default_rng(13)
    modes = rng.integers(0, len(CENTRES), 200)
    images = np.stack([_every_move([m])[rng.integers(0, len(MOVES))] for m in modes])
    np.savez(tmp_path / "discs.npz", images=images, labels=modes)
    result = subprocess.run(
        [
            sys.executable,
            os.path.join("tools", "validate_binary_features.py"),
            f"--data=npz:{tmp_path / 'discs.npz'}",
            "--num=40",
            "--noraw",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + 11  # the header, its rule and 11 sets
    # density: a disc of radius 2 is 13 of the 32 x 32 = 1024 pixels
    assert rows[2] == "| the same images (A) | 0.013 | 0.000 | 1.000 | 1.000 | 0.000 |"
    assert rows[10].startswith("| labels 0-3 only (half the classes) |")
