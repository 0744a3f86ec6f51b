"""Evaluate exported generators: `python evaluate.py --generator RUN_DIR/generator --out_dir DIR`.

Repeat --generator (and optionally --label) to compare several models in one table and one
histogram. Figures, metrics.json and metrics.md go to --out_dir; the table is also printed.
The work is done by binarygan_tf/evaluation.py; the metrics are explained in docs/evaluation.md.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from binarygan_tf import flag_defs  # noqa: E402

flag_defs.define_evaluate_flags()
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        print(f"error: unexpected arguments {argv[1:]}; flags look like --name=value.",
              file=sys.stderr)
        return 2
    logging.set_verbosity(logging.WARNING)
    from binarygan_tf import evaluation
    from binarygan_tf.errors import UserError

    if not FLAGS.out_dir:
        print("error: --out_dir is required (where figures and metrics.json go).",
              file=sys.stderr)
        return 2
    try:
        results = evaluation.evaluate(
            FLAGS.generator, FLAGS.out_dir, labels=FLAGS.label, num_samples=FLAGS.num_samples,
            seed=FLAGS.seed, mnist_dir=FLAGS.mnist_dir, tfds_data_dir=FLAGS.tfds_data_dir,
            cache_dir=FLAGS.cache_dir)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    clf = results["classifier"]
    print(f"\n{results['num_samples']} samples per model; classifier test accuracy "
          f"{clf['test_accuracy']:.4f}; data pixel density {results['data_density']:.3f}\n")
    print(evaluation.text_table(results))
    print(f"\nwrote {os.path.join(FLAGS.out_dir, 'metrics.json')}, metrics.md and figures")
    return 0


def parse_flags_or_exit(argv):
    """absl exits with status 1 and a usage dump on a bad flag; we want one line and 2."""
    try:
        return FLAGS(argv)
    except flags.Error as e:
        print(f"error: {e}. See --helpshort for the flags.", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags_or_exit)
