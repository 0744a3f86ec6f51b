"""Evaluate exported generators: `python evaluate.py --generator RUN_DIR/generator --out_dir DIR`.

Repeat --generator (and optionally --label) to compare several models in one table and one
histogram. The same as `binarygan evaluate`; the metrics are explained in docs/evaluation.md.
"""

import sys

from binarygan_tf.commands import run_subcommand

if __name__ == "__main__":
    run_subcommand("evaluate", sys.argv)
