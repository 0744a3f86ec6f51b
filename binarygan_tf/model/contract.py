"""The exported generator's interface, as constants every module reads from one place.

A generator folder (`RUN_DIR/generator`, `models/<profile>/<run>/generator`) is a SavedModel
whose `serving_default` maps z [N, LATENT_DIM] float32 ~ N(0, 1) to `samples` and
`preactivated` [N, *IMAGE_SHAPE] float32 (docs/export.md), with `METADATA_FILE` beside it.
This module imports no TensorFlow, so tools that only read metadata (reproduce's run state,
the publishing of runs) stay fast.
"""

LATENT_DIM = 128  # code: presets/generator/*.py NET_G['z_dim'] = 128
IMAGE_SHAPE = (28, 28, 1)  # code: config.py out_height/out_width/out_channel
METADATA_FILE = "binarygan.json"  # what the model is and the code that trained it
SERVING_SIGNATURE = "serving_default"  # z -> samples, preactivated
SEEDED_SIGNATURE = "sample_seeded"  # (z, seed) -> the same, SBN noise drawn from `seed`
NOISE_SIGNATURE = "sample_with_noise"  # (z, noise) -> the same, SBN noise given (TFLite)
