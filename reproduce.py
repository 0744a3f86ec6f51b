"""Rerun the whole paper: `python reproduce.py --profile=quick --mnist_dir=../shared/mnist`.

Trains every configuration of the paper's four experiments (plus one row beyond it), evaluates
each, and writes docs/results.md with its figures. Finished runs are reused and a cut-off run
resumes from its checkpoint, so the command can simply be rerun until it completes.
The work is done by binarygan_tf/reproduction.py and binarygan_tf/results_page.py.
"""

import os
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from binarygan_tf import cli, flag_defs  # noqa: E402
from binarygan_tf.errors import UserError  # noqa: E402

flag_defs.define_reproduce_flags()
FLAGS = flags.FLAGS


def main():
    from binarygan_tf import reproduction, results_page

    profile = reproduction.PROFILES[FLAGS.profile]
    runs_dir = FLAGS.runs_dir or os.path.join("runs", "repro", profile.name)
    by_name = {s.name: s for s in reproduction.RUNS}
    unknown = [n for n in FLAGS.only or [] if n not in by_name]
    if unknown:
        raise UserError(f"--only: unknown run(s) {', '.join(unknown)}; known: "
                        f"{', '.join(by_name)}.")
    specs = tuple(by_name[n] for n in FLAGS.only) if FLAGS.only else reproduction.RUNS
    figures_dir = FLAGS.figures_dir or os.path.join(os.path.dirname(FLAGS.results) or ".",
                                                    "figures", "results")
    command = "python reproduce.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    start = time.time()
    print(f"profile {profile.name}: {profile.note}; {len(specs)} runs in {runs_dir}")
    status = reproduction.train_all(profile, runs_dir, FLAGS.mnist_dir, FLAGS.tfds_data_dir,
                                    specs=specs)
    if status != "completed":
        print("interrupted: finished runs and checkpoints are kept; rerun the same command "
              "to continue.", file=sys.stderr)
        return 130
    print("evaluating the runs")
    evals = reproduction.evaluate_all(profile, runs_dir, FLAGS.mnist_dir,
                                      FLAGS.tfds_data_dir, FLAGS.cache_dir, specs=specs)
    timings = reproduction.timings(runs_dir, specs)
    verdicts = results_page.write_page(FLAGS.results, evals, specs, profile, timings,
                                       command, figures_dir)
    for experiment, claim, ok, evidence in verdicts:
        print(f"  {experiment:>5}  {'holds' if ok else 'does not hold':<14} {claim}: {evidence}")
    print(f"wrote {FLAGS.results} and its figures in {figures_dir} "
          f"({reproduction.format_duration(time.time() - start)})")
    return 0


if __name__ == "__main__":
    cli.run(main)
