"""Train a BinaryGAN: `python train.py --neuron=dbn --objective=wgan-gp --mnist_dir=DIR`.

Paper experiments: `python train.py --flagfile=flags/exp1_mlp_dbn.cfg` (see flags/).
Every flag: binarygan_tf/flag_defs.py. The work is done by binarygan_tf/train_lib.py.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from binarygan_tf import flag_defs  # noqa: E402

flag_defs.define_train_flags()
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        print(f"error: unexpected arguments {argv[1:]}; flags look like --name=value.",
              file=sys.stderr)
        return 2
    logging.set_verbosity(logging.WARNING)  # TF's INFO lines (checkpoint sharding...) are noise
    from binarygan_tf import train_lib
    from binarygan_tf.errors import TrainingFailed, UserError

    try:
        result = train_lib.run_training(train_lib.TrainConfig.from_flags(FLAGS))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 130 if result.status == "interrupted" else 0


def parse_flags_or_exit(argv):
    """absl exits with status 1 and a usage dump on a bad flag; we want one line and 2."""
    try:
        return FLAGS(argv)
    except flags.Error as e:
        print(f"error: {e}. See --helpshort for the flags.", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags_or_exit)
