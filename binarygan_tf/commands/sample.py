"""`binarygan sample` / `python sample.py`: flags in, `sampling.sample_to_files` out.

Every check that needs no TensorFlow runs before it loads, so a typo
costs a second, not a TensorFlow start-up.
"""

import os

from absl import flags

from binarygan_tf import startup
from binarygan_tf.errors import UserError
from binarygan_tf.training import flag_defs

DOC = """Draw samples from an exported generator (docs/export.md):
  --generator RUN_DIR/generator --out grid.png [--out samples.npy] [--num 64] [--seed 0]
The same --seed gives the same samples for every neuron (SBN noise included)."""

FLAGS = flags.FLAGS


def define_flags():
    flag_defs.define_sample_flags()


def main():
    if not FLAGS.generator:
        raise UserError(
            "--generator is required (an exported generator folder, RUN_DIR/generator)."
        )
    if not os.path.exists(FLAGS.generator):
        raise UserError(f"--generator {FLAGS.generator} does not exist.")
    if not FLAGS.out:
        raise UserError("--out is required: a .png grid and/or a .npy array.")
    from binarygan_tf.evaluation import sampling

    sampling.check_request(FLAGS.num, FLAGS.seed, FLAGS.out)
    startup.quiet_tensorflow_import()
    paths = sampling.sample_to_files(
        FLAGS.generator, FLAGS.num, FLAGS.seed, FLAGS.out, preactivated=FLAGS.preactivated
    )
    for path in paths:
        print(f"wrote {path}")
    return 0
