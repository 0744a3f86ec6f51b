"""Export a generator as a self-contained TF SavedModel: the contract evaluate.py relies on.

Contract of `RUN_DIR/generator/` (loadable by `tf.saved_model.load`, no project code needed):
signature `serving_default`, input `z` float32 [N, 128] ~ N(0, 1); outputs `samples`
float32 [N, 28, 28, 1] (exactly 0/1 for dbn/sbn, the sigmoid for real) and `preactivated`
float32 [N, 28, 28, 1] in (0, 1); batch norm in inference mode. `binarygan.json` beside
`saved_model.pb` records what the model is (neuron, arch, objective, step, slope).

`keras.export.ExportArchive` is used instead of `tf.saved_model.save` because the latter
refuses a model holding a `SeedGenerator` (the SBN's noise) as an untracked resource. The
archive is written to a temporary sibling folder and renamed into place, so a crash never
leaves a half-written SavedModel where a finished one is expected.

Command line, for a checkpoint after the fact: `python -m binarygan_tf.export RUN_DIR`.
"""

import json
import os
import shutil
import sys
import tempfile

import keras
import tensorflow as tf

from binarygan_tf.errors import UserError
from binarygan_tf.networks import LATENT_DIM

METADATA_FILE = "binarygan.json"


def export_generator(generator, path, metadata=None):
    """Write `generator` to `path` atomically (replacing an older export there)."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".generator-", dir=parent)
    try:
        archive = keras.export.ExportArchive()
        archive.track(generator)

        def serve(z):
            out = generator(z, training=False)
            return {"samples": tf.cast(out["samples"], tf.float32),
                    "preactivated": tf.cast(out["preactivated"], tf.float32)}

        archive.add_endpoint(
            "serving_default", serve,
            input_signature=[tf.TensorSpec([None, LATENT_DIM], tf.float32, name="z")])
        archive.write_out(tmp, verbose=False)
        with open(os.path.join(tmp, METADATA_FILE), "w") as f:
            json.dump(metadata or {}, f, indent=2)
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=".generator-old-", dir=parent)
            os.replace(path, os.path.join(old, "g"))
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def export_run(run_dir, checkpoint=None):
    """Rebuild the run's generator from `config.json`, restore a checkpoint, export it."""
    from binarygan_tf import train_lib  # late: train_lib imports this module

    config = train_lib.TrainConfig.load(run_dir)
    return train_lib.export_from_checkpoint(config, checkpoint)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 2):
        print("usage: python -m binarygan_tf.export RUN_DIR [CHECKPOINT_PREFIX]", file=sys.stderr)
        return 2
    try:
        path = export_run(*argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"exported generator to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
