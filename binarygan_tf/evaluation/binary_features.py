"""Sample quality without a classifier: precision, recall and a Frechet distance on features
defined on the binary images themselves (docs/evaluation.md, "Data without a classifier").

MNIST's measures read a digit classifier's features; other binary data (glyphs, masks, piano
rolls) has no such network. The feature here is one level of a Gaussian pyramid: each image
blurred with the 5-tap binomial kernel [1, 4, 6, 4, 1] in each direction and kept at every
second row and column. On it:

- precision and recall: `metrics.precision_recall` (Kynkaanniemi et al. 2019, k-NN balls);
- a distance: `metrics.frechet_distance` (FID's formula) on the features scaled to units of
  ink (1 where a pixel's whole neighbourhood is on), so the FD is in ink^2.

Why blurred rather than raw pixels: in raw pixels (Hamming distance) a stray pixel costs as
much as a stroke pixel missing, so a few random specks per image already throw a real digit
out of the data's k-NN manifold, and the noise inflates the samples' own k-NN radii until
their balls cover every real image (recall near 1 for noise). Blurred, a speck costs little,
and precision and recall fall gradually with the amount of noise. The measured comparison, and
what the blur is blind to, are in the docs (tools/validate_binary_features.py).

Pure numpy/scipy: no TensorFlow. The features of 0/1 images are integers (the kernel's weights
are), and so are all distances between them while the squared norms stay below 2^24 (every
28 x 28 image: 196 features of at most 256), so float32 computes them exactly and the
precision and recall of binary images do not depend on the CPU or the BLAS.
"""

import numpy as np
from scipy import ndimage

from binarygan_tf.errors import UserError
from binarygan_tf.evaluation import metrics

# The generating kernel of Burt & Adelson's Gaussian pyramid ("The Laplacian Pyramid as a
# Compact Image Code", 1983: w = [c, b, a, b, c], b = 1/4, c = 1/4 - a/2) with a = 3/8, the
# binomial [1, 4, 6, 4, 1] / 16: variance 1, a Gaussian-like blur of sigma 1 pixel, made to be
# subsampled by 2 (their REDUCE). Their a = 0.4 is a little more Gaussian; 3/8 keeps the
# weights integers, so the features of 0/1 images are exact.
PYRAMID_KERNEL = np.array([1, 4, 6, 4, 1], np.float32)
KERNEL_MASS = float(PYRAMID_KERNEL.sum() ** 2)  # 256: a feature's value when all is ink
# The pyramid's REDUCE step: the blur removes what a 2x subsampling would alias, and the
# features are 4x fewer (196 for 28 x 28), so the 10,000 x 10,000 distance passes are cheap.
STRIDE = 2
# Neighbours of the k-NN manifolds: 3, as Kynkaanniemi et al. 2019 and the classifier-feature
# measures (metrics.precision_recall).
K_NEAREST = 3


def _images(images, name):
    """[N, H, W] float32 from [N, H, W] or [N, H, W, 1] (the generators' contract)."""
    array = np.asarray(images, np.float32)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3 or len(array) == 0:
        raise UserError(
            f"{name}: expected images of shape N x H x W (or N x H x W x 1), got "
            f"{tuple(np.shape(images))}."
        )
    return array


def pyramid_features(images):
    """[N, ceil(H/2) * ceil(W/2)] float32: each image blurred by the binomial kernel and
    subsampled by 2, in units of 1/256 of ink (integers for 0/1 images).

    Beyond the border there is no ink (zero padding), so a stroke near the edge is not
    mirrored into the image. Values in [0, 1] that are not binary (a real-valued model's raw
    output) are blurred the same way; their features are then not integers.
    """
    array = _images(images, "pyramid_features")
    for axis in (1, 2):
        array = ndimage.correlate1d(array, PYRAMID_KERNEL, axis=axis, mode="constant")
    return array[:, ::STRIDE, ::STRIDE].reshape(len(array), -1)


def compare(data_images, sample_images, k=K_NEAREST):
    """{"pyramid_precision", "pyramid_recall", "pyramid_fd"}: `sample_images` against
    `data_images` (held-out real images) on pyramid features.

    precision: share of samples inside the data's k-NN manifold (quality); recall: share of
    data images inside the samples' manifold (coverage: a dropped mode lowers it); FD: the
    Frechet distance between Gaussians fitted to the two feature sets, in units of ink^2
    (0 for identical sets; real data against other real data gives its floor at that size).
    """
    data = _images(data_images, "data images")
    samples = _images(sample_images, "samples")
    if data.shape[1:] != samples.shape[1:]:
        raise UserError(
            f"the samples are {samples.shape[1]} x {samples.shape[2]} but the data images "
            f"are {data.shape[1]} x {data.shape[2]}; compare images of one size."
        )
    if min(len(data), len(samples)) <= k:
        raise UserError(
            f"precision and recall need more than k = {k} images per set (each image's k-th "
            f"nearest other image); got {len(data)} data images and {len(samples)} samples."
        )
    data_features, sample_features = pyramid_features(data), pyramid_features(samples)
    pr = metrics.precision_recall(data_features, sample_features, k=k)
    # A power of two: the division is exact, and FD scales by its square.
    fd = metrics.frechet_distance(data_features / KERNEL_MASS, sample_features / KERNEL_MASS)
    return {
        "pyramid_precision": pr["precision"],
        "pyramid_recall": pr["recall"],
        "pyramid_fd": fd,
    }


def data_agnostic_measures(data_images, sample_images, k=K_NEAREST):
    """Every measure that needs no classifier, in one dict: `compare`'s three, and

    - binary_fraction: share of sample values exactly 0 or 1;
    - pixel_density beside data_pixel_density: the samples' share of 'on' pixels, and the
      data's (the value to match);
    - stray_pixel_share beside data_stray_pixel_share: the share of 'on' pixels outside their
      image's largest 8-connected component (metrics.stray_pixel_share), the samples' and the
      data's. The blur forgives specks, so a cloud of independent specks can sit inside the
      data's k-NN balls (docs/evaluation.md); this pair is what sees it. Its meaning is the
      data's: for strokes (digits, letters) specks are artifacts, for other data (piano
      rolls) only the comparison with the data's value says anything.
    """
    return {
        "binary_fraction": metrics.binary_fraction(sample_images),
        "pixel_density": metrics.pixel_density(sample_images),
        "data_pixel_density": metrics.pixel_density(data_images),
        "stray_pixel_share": metrics.stray_pixel_share(_images(sample_images, "samples")),
        "data_stray_pixel_share": metrics.stray_pixel_share(_images(data_images, "data images")),
        **compare(data_images, sample_images, k=k),
    }
