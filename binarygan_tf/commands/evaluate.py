"""`binarygan evaluate` / `python evaluate.py`: measure exported generators."""

import os

from absl import flags

from binarygan_tf import startup
from binarygan_tf.errors import UserError
from binarygan_tf.training import datasets, flag_defs

DOC = """Evaluate exported generators against the data they were trained on (docs/evaluation.md):
  --generator RUN_DIR/generator [--generator OTHER/generator ...] --out_dir DIR
  [--dataset=... --binarize=...]  (default: the generators' own, from their binarygan.json)"""

FLAGS = flags.FLAGS


def define_flags():
    flag_defs.define_evaluate_flags()
    flag_defs.define_dataset_flags()


def main():
    if not FLAGS.out_dir:
        raise UserError("--out_dir is required (where figures and metrics.json go).")
    if not FLAGS.generator:
        raise UserError(
            "--generator is required (an exported generator folder, "
            "RUN_DIR/generator); repeat it to compare several."
        )
    for path in FLAGS.generator:
        if not os.path.exists(path):
            raise UserError(f"--generator {path} does not exist.")
    flag_defs.check_classifier_flag(FLAGS.classifier)
    if FLAGS["dataset"].present:
        datasets.check(FLAGS.dataset)  # a bad spec is one line, before TensorFlow loads
    datasets.parse_binarize(FLAGS.binarize)
    startup.quiet_tensorflow_import()
    from binarygan_tf.evaluation import pipeline as evaluation

    results = evaluation.evaluate(
        FLAGS.generator,
        FLAGS.out_dir,
        labels=FLAGS.label,
        num_samples=FLAGS.num_samples,
        seed=FLAGS.seed,
        mnist_dir=FLAGS.mnist_dir,
        tfds_data_dir=FLAGS.tfds_data_dir,
        cache_dir=FLAGS.cache_dir,
        classifier=FLAGS.classifier,
        # Unset: the data the generators were trained on (their binarygan.json).
        dataset=FLAGS.dataset if FLAGS["dataset"].present else None,
        binarize=FLAGS.binarize,
    )
    clf = results["classifier"]
    yardstick = (
        f"classifier {clf['digest']} (test accuracy {clf['test_accuracy']:.4f})"
        if clf
        else f"no classifier: pyramid features of {results['dataset']}"
    )
    print(
        f"\n{results['num_samples']} samples per model; {yardstick}; data pixel density "
        f"{results['data_density']:.3f}\n"
    )
    print(evaluation.text_table(results))
    for line in evaluation.skipped_lines(results):
        print(line)
    print(f"\nwrote {os.path.join(FLAGS.out_dir, 'metrics.json')}, metrics.md and figures")
    return 0
