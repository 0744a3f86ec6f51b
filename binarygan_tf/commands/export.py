"""`binarygan export` / `python -m binarygan_tf export`: a run's generator from a checkpoint,
after the fact (an interrupted run, an older export, a chosen checkpoint)."""

import os

from absl import flags

from binarygan_tf import startup
from binarygan_tf.errors import UserError
from binarygan_tf.training import flag_defs

DOC = """Export a run's generator from a checkpoint to RUN_DIR/generator:
  --run_dir RUN_DIR [--checkpoint RUN_DIR/checkpoints/ckpt-STEP]"""

FLAGS = flags.FLAGS


def define_flags():
    flag_defs.define_export_flags()


def main():
    if not FLAGS.run_dir:
        raise UserError("--run_dir is required (a train.py run directory).")
    if not os.path.isdir(FLAGS.run_dir):
        raise UserError(f"--run_dir {FLAGS.run_dir} does not exist.")
    startup.quiet_tensorflow_import()
    from binarygan_tf.training import train_lib

    print(f"exported generator to {train_lib.export_run(FLAGS.run_dir, FLAGS.checkpoint)}")
    return 0
