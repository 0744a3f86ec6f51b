"""Train a BinaryGAN: `python train.py --neuron=dbn --objective=wgan-gp --mnist_dir=DIR`.

Paper experiments: `python train.py --flagfile=flags/exp1_mlp_dbn.cfg` (see flags/), or
`--experiment=exp1_mlp_dbn`. `--help` lists every flag. The same as `binarygan train`.
"""

import sys

from binarygan_tf.commands import run_subcommand

if __name__ == "__main__":
    run_subcommand("train", sys.argv)
