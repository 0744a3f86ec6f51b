"""The exported generator's interface, as constants every module reads from one place.

A generator folder (`RUN_DIR/generator`, `models/<profile>/<run>/generator`) is a SavedModel
whose `serving_default` maps z [N, LATENT_DIM] float32 ~ N(0, 1) to `samples` and
`preactivated` [N, H, W, 1] float32 (docs/export.md), with `METADATA_FILE` beside it. The
image shape [H, W, 1] is recorded there under `IMAGE_SHAPE_KEY` (a run's config.json records
it under the same key); `image_shape(metadata)` reads it. This module imports no TensorFlow,
so tools that only read metadata (reproduce's run state, the publishing of runs) stay fast.
"""

LATENT_DIM = 128  # code: presets/generator/*.py NET_G['z_dim'] = 128
IMAGE_SHAPE = (28, 28, 1)  # code: config.py out_height/out_width/out_channel (MNIST)
METADATA_FILE = "binarygan.json"  # what the model is and the code that trained it
IMAGE_SHAPE_KEY = "image_shape"  # [H, W, 1] in METADATA_FILE and in a run's config.json
SERVING_SIGNATURE = "serving_default"  # z -> samples, preactivated
SEEDED_SIGNATURE = "sample_seeded"  # (z, seed) -> the same, SBN noise drawn from `seed`
NOISE_SIGNATURE = "sample_with_noise"  # (z, noise) -> the same, SBN noise given (TFLite)


def image_shape(metadata):
    """(H, W, 1) of the images a generator draws, from its METADATA_FILE contents (or a run's
    config.json). Generators exported and runs started before the shape was recorded are all
    MNIST's, so a missing key means IMAGE_SHAPE. A malformed value raises ValueError."""
    value = (metadata or {}).get(IMAGE_SHAPE_KEY)
    if value is None:
        return IMAGE_SHAPE
    return normalize_image_shape(value)


def normalize_image_shape(shape):
    """(H, W, 1) of `shape` given as (H, W) or (H, W, 1) with positive integer sides; else
    ValueError: the generators are single-channel (binary pixels)."""
    try:
        sides = [int(side) for side in shape]
    except (TypeError, ValueError):
        raise ValueError(f"image shape {shape!r} is not a list of integers") from None
    if len(sides) == 3 and sides[2] == 1:
        sides = sides[:2]
    if len(sides) != 2 or min(sides) < 1 or list(shape)[:2] != sides:
        raise ValueError(f"image shape {shape!r} is not [H, W, 1] with positive H and W")
    return (sides[0], sides[1], 1)
