"""Train a BinaryGAN: `python train.py --neuron=dbn --objective=wgan-gp --mnist_dir=DIR`.

Paper experiments: `python train.py --flagfile=flags/exp1_mlp_dbn.cfg` (see flags/).
Every flag: binarygan_tf/flag_defs.py. The work is done by binarygan_tf/train_lib.py.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from binarygan_tf import cli, flag_defs  # noqa: E402

flag_defs.define_train_flags()
FLAGS = flags.FLAGS


def main():
    from binarygan_tf import train_lib

    result = train_lib.run_training(train_lib.TrainConfig.from_flags(FLAGS))
    return 130 if result.status == "interrupted" else 0


if __name__ == "__main__":
    cli.run(main)
