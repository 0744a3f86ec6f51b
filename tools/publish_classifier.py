"""Train the evaluation classifier afresh and publish it with the models (models/classifier/).

Run once, by whoever changes the classifier's recipe (classifier.VERSION): every published
metric is keyed on the published weights' digest, so after this, `reproduce.py --stage=page`
re-measures every published run with the new weights and the page names the new digest.

    python tools/publish_classifier.py --mnist_dir=../shared/mnist
"""

import os
import tempfile

from absl import flags

from binarygan_tf import startup
from binarygan_tf.commands import cli


def define_flags():
    """The tool's flags, defined when it runs as a program, not on import: tests import
    several tools into one process, and absl refuses a flag name defined twice."""
    flags.DEFINE_string("mnist_dir", None, "The four MNIST IDX files (else TFDS).")
    flags.DEFINE_string("tfds_data_dir", None, "A prepared TFDS folder, offline.")
    flags.DEFINE_string(
        "out", None, "Where to publish (default: models/classifier in the checkout)."
    )
    flags.DEFINE_integer("seed", 0, "The classifier's initialization and shuffling seed.")


def main():
    f = flags.FLAGS
    startup.quiet_tensorflow_import()
    from binarygan_tf.evaluation import classifier

    with tempfile.TemporaryDirectory() as fresh_cache:  # train, never reuse a cached one
        clf = classifier.load_or_train(
            f.mnist_dir, f.tfds_data_dir, cache_dir=fresh_cache, seed=f.seed
        )
        info = classifier.publish(clf, f.out or classifier.PUBLISHED_DIR)
    folder = os.path.abspath(f.out or classifier.PUBLISHED_DIR)
    print(f"published classifier {info['digest']} (test accuracy {info['test_accuracy']:.4f})")
    print(f"in {folder}")


if __name__ == "__main__":
    define_flags()
    cli.run(main, doc=__doc__)
