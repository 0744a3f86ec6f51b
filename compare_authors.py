import sys

from binarygan_tf.commands import run_subcommand

if __name__ == "__main__":
    run_subcommand("compare-authors", sys.argv)
