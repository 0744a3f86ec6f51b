"""`binarygan reproduce` / `python reproduce.py`: the paper's runs, trained, published, evaluated,
and the results page written (binarygan_tf/reproduction/job.py does the work)."""

import shlex
import sys
import time

from absl import flags

from binarygan_tf import startup
from binarygan_tf.errors import EXIT_FAILED
from binarygan_tf.training import flag_defs

DOC = """Train, publish and evaluate the paper's runs, and write docs/results.md:
  --profile=quick|paper --mnist_dir=DIR                 everything that is missing
  --stage=publish|evaluate|page                         the same without training
  --shard=INDEX/COUNT                                   one machine's share of the runs
  --jobs=N                                              N runs at a time, each on its cores"""

FLAGS = flags.FLAGS


def define_flags():
    flag_defs.define_reproduce_flags()


def main():
    from binarygan_tf import formatting
    from binarygan_tf.reproduction import job as reproduction

    job = reproduction.plan_job(  # every flag is checked here, before TensorFlow loads
        profile=FLAGS.profile,
        only=FLAGS.only,
        runs_dir=FLAGS.runs_dir,
        models_dir=FLAGS.models_dir,
        stage=FLAGS.stage,
        shard=FLAGS.shard,
        mnist_dir=FLAGS.mnist_dir,
        tfds_data_dir=FLAGS.tfds_data_dir,
        cache_dir=FLAGS.cache_dir,
        classifier=FLAGS.classifier,
        results=FLAGS.results,
        figures_dir=FLAGS.figures_dir,
        authors_runs_dir=FLAGS.authors_runs_dir,
        progress_mode=FLAGS.progress,
        jobs=FLAGS.jobs,
        command="python reproduce.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    startup.quiet_tensorflow_import()
    from binarygan_tf.reproduction import claim_table

    start = time.time()
    share = (
        f"shard {job.shard}: {len(job.own_specs)} of {len(job.specs)} runs "
        f"({', '.join(s.name for s in job.own_specs)})"
        if job.shard
        else f"{len(job.specs)} runs"
    )
    print(
        f"profile {job.profile.name}: {job.profile.note}; {share}; stage {job.stage}; runs "
        f"in {job.runs_dir}, published to {job.models_dir()}"
    )
    outcome = reproduction.run_job(job)
    if outcome.status == "failed":
        print(
            "error: training failed for the run(s) named above (see their logs); the others "
            "are published. Rerun the same command to train the failed ones again.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if outcome.status != "completed":
        print(
            "interrupted: finished runs and checkpoints are kept; rerun the same command "
            "to continue.",
            file=sys.stderr,
        )
        return 130
    if outcome.claim_rows is not None:
        print("\n".join(claim_table.console_summary(outcome.claim_rows)))
        print(f"wrote {job.results} and its figures in {job.figures_dir}")
    print(f"done ({formatting.duration(time.time() - start)})")
    return 0
