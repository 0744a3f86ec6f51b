"""Rerun the whole paper: `python reproduce.py --profile=quick --mnist_dir=../shared/mnist`.

Trains every configuration of the paper's four experiments (plus one row beyond it, and seed
repeats of Exp. I), publishes each finished run to models/<profile>/<run>/, evaluates them,
and writes docs/results.md with its figures. Finished runs and published generators are
reused and a cut-off run resumes from its checkpoint, so the command can simply be rerun until
it completes; on a fresh clone with models/ it rebuilds the page without training. The work is
done by binarygan_tf/reproduction/job.py (the job) and binarygan_tf/reproduction/page.py (the page).
"""

import sys

from binarygan_tf.commands import run_subcommand

if __name__ == "__main__":
    run_subcommand("reproduce", sys.argv)
