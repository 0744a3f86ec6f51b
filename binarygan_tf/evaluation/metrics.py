"""Numbers the paper judged by eye: sample quality in classifier features, binary-ness, and the
shape of the preactivated-output histogram (paper Fig. 4).

Pure numpy on arrays, so each metric can be checked on inputs with a known answer
(tests/test_metrics.py). The features and class probabilities come from `classifier.py`.
"""

import numpy as np
from scipy import ndimage

EPS = 1e-12


# ---------------------------------------------------------------- quality in feature space
def _mean_cov(features):
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix):
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(features_a, features_b):
    """Frechet distance between Gaussians fitted to two feature sets (FID's formula).

    tr(sqrt(C_a C_b)) is computed as tr(sqrt(S C_b S)) with S = sqrt(C_a): the same value,
    but the matrix is symmetric, so `eigh` is exact where a general `sqrtm` can go complex.
    """
    mu_a, cov_a = _mean_cov(features_a)
    mu_b, cov_b = _mean_cov(features_b)
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    fd = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt
    return float(max(fd, 0.0))


def classifier_score(probs):
    """exp(E_x KL(p(y|x) || p(y))): the Inception-score analogue; 1 to the number of classes."""
    probs = np.clip(np.asarray(probs, np.float64), EPS, 1.0)
    marginal = probs.mean(axis=0)
    kl = np.sum(probs * (np.log(probs) - np.log(marginal)), axis=1)
    return float(np.exp(kl.mean()))


def class_distribution(probs, num_classes=10):
    """Shares of the predicted classes, and how far they are from uniform (mode collapse)."""
    predicted = np.argmax(np.asarray(probs), axis=1)
    shares = np.bincount(predicted, minlength=num_classes) / len(predicted)
    nonzero = shares[shares > 0]
    kl = float(np.sum(nonzero * np.log(nonzero * num_classes)))
    return {
        "class_shares": [float(s) for s in shares],
        "min_class_share": float(shares.min()),
        "max_class_share": float(shares.max()),
        "kl_to_uniform": kl,
    }


def _pairwise_sq_distances(a, b):
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


def _kth_neighbour_radii(features, k, chunk):
    """Squared distance from each point to its k-th nearest other point of the same set."""
    radii = np.empty(len(features))
    for start in range(0, len(features), chunk):
        d = _pairwise_sq_distances(features[start : start + chunk], features)
        # column k: index 0 is the point itself (distance 0)
        radii[start : start + chunk] = np.partition(d, k, axis=1)[:, k]
    return radii


def _coverage(queries, manifold, radii, chunk):
    """Fraction of `queries` inside at least one ball (manifold point, its radius)."""
    inside = np.zeros(len(queries), bool)
    for start in range(0, len(queries), chunk):
        d = _pairwise_sq_distances(queries[start : start + chunk], manifold)
        inside[start : start + chunk] = (d <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real_features, fake_features, k=3, chunk=1000):
    """Improved precision and recall (Kynkaanniemi et al. 2019), k-NN manifolds, k=3 as there.

    Precision: share of generated samples inside the real manifold (quality); recall: share of
    real samples inside the generated manifold (coverage, so mode collapse lowers it).
    """
    real = np.asarray(real_features, np.float32)
    fake = np.asarray(fake_features, np.float32)
    real_radii = _kth_neighbour_radii(real, k, chunk)
    fake_radii = _kth_neighbour_radii(fake, k, chunk)
    return {
        "precision": _coverage(fake, real, real_radii, chunk),
        "recall": _coverage(real, fake, fake_radii, chunk),
    }


# ---------------------------------------------------------------- binary-ness
def binary_fraction(samples):
    """Share of output values that are exactly 0 or 1 (1.0 for binary neurons by design)."""
    samples = np.asarray(samples)
    return float(np.mean((samples == 0) | (samples == 1)))


def pixel_density(samples):
    """Mean pixel value: the share of 'on' pixels for binary images (binarized MNIST: ~0.19)."""
    return float(np.mean(samples))


# ---------------------------------------------------------------- artifacts
# Within one image, pixels touching by an edge or a corner; across images, never (the stack
# is labelled in one call, so the structure must not link image i to image i + 1).
_EIGHT_NEIGHBOURS_PER_IMAGE = np.zeros((3, 3, 3), bool)
_EIGHT_NEIGHBOURS_PER_IMAGE[1] = True


def stray_pixel_share(images, threshold=0.5):
    """Share of 'on' pixels (> `threshold`) outside their image's largest 8-connected stroke.

    The paper says the CNN generates "less artifacts" than the MLP (Sec. 4.6, Fig. 7) and
    shows it by eye: specks and fragments beside the digit. A digit is mostly one stroke, so
    what lies outside an image's largest connected component is the measurable part of that
    remark. Real binarized digits are not 0 either (a broken stroke counts), so the reference
    row of the evaluation gives the value to compare with. 0 for images with no 'on' pixel.
    """
    on, stray = on_and_stray_pixels(images, threshold)
    total = int(on.sum())
    return float(stray.sum() / total) if total else 0.0


def on_and_stray_pixels(images, threshold=0.5):
    """Two [N, H, W] boolean masks: the 'on' pixels, and those of them `stray_pixel_share`
    counts (the figures draw both)."""
    on = np.asarray(images) > threshold
    if on.ndim == 4:  # (N, H, W, 1), the generators' contract: one channel
        on = on[..., 0]
    labels, count = ndimage.label(on, structure=_EIGHT_NEIGHBOURS_PER_IMAGE)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    # A component lies in one image, so its repeated writes agree (label 0, the background
    # of every image, is never read).
    image_of_label = np.zeros(count + 1, np.int64)
    image_of_label[labels.ravel()] = np.repeat(np.arange(len(on)), on[0].size)
    # Each image's largest component (of equal sizes, the lowest label); an empty image gets
    # a label no pixel has.
    biggest = np.zeros(len(on), np.int64)
    np.maximum.at(biggest, image_of_label[1:], sizes[1:])
    candidates = np.flatnonzero(sizes[1:] == biggest[image_of_label[1:]]) + 1
    largest = np.full(len(on), np.iinfo(np.int64).max)
    np.minimum.at(largest, image_of_label[candidates], candidates)
    return on, on & (labels != largest[:, None, None])


# ---------------------------------------------------------------- preactivated-output shape
HISTOGRAM_BINS = 200  # bins of the Fig. 4 histogram and of its end-bin masses


def preactivation_histogram(values, bins=HISTOGRAM_BINS):
    """(bin edges, share of values per bin) on [0, 1]: paper Fig. 4's 'density' axis."""
    counts, edges = np.histogram(np.ravel(values), bins=bins, range=(0.0, 1.0))
    return edges, counts / max(counts.sum(), 1)


def end_mass(values, margin=0.05):
    """Share of preactivated values below `margin` or above 1 - `margin`."""
    values = np.ravel(values)
    return float(np.mean((values < margin) | (values > 1 - margin)))


def notch_ratio(values, half_width=0.05):
    """Density in [0.5 - w, 0.5 + w] over the mean density of the equally wide bands beside it.

    Below 1: a notch at the threshold (paper Fig. 4, DBN); about 1: a smooth curve; NaN when
    the neighbouring bands are empty.
    """
    values = np.ravel(values)
    w = half_width
    centre = np.mean((values >= 0.5 - w) & (values <= 0.5 + w))
    beside = (
        np.mean((values >= 0.5 - 3 * w) & (values < 0.5 - w))
        + np.mean((values > 0.5 + w) & (values <= 0.5 + 3 * w))
    ) / 2
    # The centre band is 2w wide and each side band 2w wide, so shares compare as densities.
    return float(centre / beside) if beside > 0 else float("nan")


def preactivation_shape(values):
    """The Fig. 4 remarks as numbers: end mass, the notch (wide and narrow), end-bin masses."""
    _, shares = preactivation_histogram(values)
    return {
        "end_mass": end_mass(values),
        "notch_ratio": notch_ratio(values, 0.05),
        "narrow_notch_ratio": notch_ratio(values, 0.005),
        "first_bin_mass": float(shares[0]),
        "last_bin_mass": float(shares[-1]),
    }
