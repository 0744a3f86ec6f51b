"""Draw samples from an exported generator: `python sample.py --generator RUN_DIR/generator
--out grid.png [--out samples.npy] [--num 64] [--seed 0] [--preactivated]`.

The same seed gives the same samples for every neuron; `--help` lists the flags. The same as
`binarygan sample`; the work is done by binarygan_tf/evaluation/sampling.py.
"""

import sys

from binarygan_tf.commands import run_subcommand

if __name__ == "__main__":
    run_subcommand("sample", sys.argv)
