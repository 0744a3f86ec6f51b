"""`binarygan evaluate` / `python evaluate.py`: measure exported generators."""

import os

from absl import flags

from binarygan_tf import startup
from binarygan_tf.errors import UserError
from binarygan_tf.training import flag_defs

DOC = """Evaluate exported generators against binarized MNIST (docs/evaluation.md):
  --generator RUN_DIR/generator [--generator OTHER/generator ...] --out_dir DIR"""

FLAGS = flags.FLAGS


def define_flags():
    flag_defs.define_evaluate_flags()


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
    )
    clf = results["classifier"]
    print(
        f"\n{results['num_samples']} samples per model; classifier {clf['digest']} (test "
        f"accuracy {clf['test_accuracy']:.4f}); data pixel density "
        f"{results['data_density']:.3f}\n"
    )
    print(evaluation.text_table(results))
    print(f"\nwrote {os.path.join(FLAGS.out_dir, 'metrics.json')}, metrics.md and figures")
    return 0
