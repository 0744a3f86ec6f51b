"""Evaluate exported generators: `python evaluate.py --generator RUN_DIR/generator --out_dir DIR`.

Repeat --generator (and optionally --label) to compare several models in one table and one
histogram. Figures, metrics.json and metrics.md go to --out_dir; the table is also printed.
The work is done by binarygan_tf/evaluation.py; the metrics are explained in docs/evaluation.md.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from binarygan_tf import cli, flag_defs  # noqa: E402
from binarygan_tf.errors import UserError  # noqa: E402

flag_defs.define_evaluate_flags()
FLAGS = flags.FLAGS


def main():
    from binarygan_tf import evaluation

    if not FLAGS.out_dir:
        raise UserError("--out_dir is required (where figures and metrics.json go).")
    results = evaluation.evaluate(
        FLAGS.generator, FLAGS.out_dir, labels=FLAGS.label, num_samples=FLAGS.num_samples,
        seed=FLAGS.seed, mnist_dir=FLAGS.mnist_dir, tfds_data_dir=FLAGS.tfds_data_dir,
        cache_dir=FLAGS.cache_dir)
    clf = results["classifier"]
    print(f"\n{results['num_samples']} samples per model; classifier test accuracy "
          f"{clf['test_accuracy']:.4f}; data pixel density {results['data_density']:.3f}\n")
    print(evaluation.text_table(results))
    print(f"\nwrote {os.path.join(FLAGS.out_dir, 'metrics.json')}, metrics.md and figures")
    return 0


if __name__ == "__main__":
    cli.run(main)
