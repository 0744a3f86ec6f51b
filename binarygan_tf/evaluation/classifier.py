"""The MNIST classifier whose features and predictions drive the quality metrics.

FID-style numbers need a feature extractor that knows digits. Inception knows nothing about
28x28 binary strokes, so, as is usual for MNIST GAN papers, we train a small CNN on the
binarized MNIST training digits (the same binarization as the GAN data, pixel > 0) and use its
128-unit penultimate layer as features and its softmax as p(y|x). It is trained once per
machine and data set, then loaded from a cache keyed by a fingerprint of the training data,
so every evaluation of every run uses the very same network.
"""

import hashlib
import json
import os

import keras
import numpy as np

from binarygan_tf import files
from binarygan_tf.training import data

CACHE_ENV_VAR = "BINARYGAN_CACHE_DIR"
FEATURES_LAYER = "features"
VERSION = 1  # bump when the architecture or the recipe below changes: invalidates caches
EPOCHS = 5  # enough for the accuracy REQUIRED_ACCURACY asks (docs/evaluation.md: measured)
BATCH_SIZE = 128
REQUIRED_ACCURACY = 0.985  # the bar the evaluation issue sets; below it we warn loudly


def default_cache_dir():
    return os.environ.get(CACHE_ENV_VAR) or os.path.join(
        os.path.expanduser("~"), ".cache", "binarygan_tf"
    )


def build_classifier(seed=0):
    """A small CNN (about 225k weights): two conv+pool stages, a 128-unit feature layer."""
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(32, 3, activation="relu", kernel_initializer=init)(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(64, 3, activation="relu", kernel_initializer=init)(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu", kernel_initializer=init, name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(0.5, seed=seed)(x)
    outputs = keras.layers.Dense(10, activation="softmax", kernel_initializer=init, name="probs")(x)
    return keras.Model(inputs, outputs, name="mnist_classifier")


def fingerprint(images, labels):
    digest = hashlib.sha1(np.ascontiguousarray(images).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()[:12]


class DigitClassifier:
    """Features and class probabilities of binary 28x28 images, plus how good the net is."""

    def __init__(self, model, info):
        self.model = model
        self.info = info  # test_accuracy, fingerprint, path, ...
        self._both = keras.Model(
            model.inputs, [model.get_layer(FEATURES_LAYER).output, model.outputs[0]]
        )

    @property
    def test_accuracy(self):
        return self.info["test_accuracy"]

    def features_and_probs(self, images, batch_size=1000):
        images = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
        features, probs = self._both.predict(images, batch_size=batch_size, verbose=0)
        return features, probs


def load_or_train(
    mnist_dir=None, tfds_data_dir=None, cache_dir=None, epochs=EPOCHS, seed=0, log=print
):
    """The cached classifier for this data, training (and caching) it the first time."""
    train_images, train_labels = data.load_mnist_split("train", mnist_dir, tfds_data_dir)
    test_images, test_labels = data.load_mnist_split("test", mnist_dir, tfds_data_dir)
    key = f"v{VERSION}-{fingerprint(train_images, train_labels)}-e{epochs}-s{seed}"
    cache_dir = cache_dir or default_cache_dir()
    model_path = os.path.join(cache_dir, f"classifier-{key}.keras")
    info_path = model_path[: -len(".keras")] + ".json"
    if os.path.isfile(model_path) and os.path.isfile(info_path):
        with open(info_path) as f:
            info = json.load(f)
        info.update(path=model_path, cached=True)
        return DigitClassifier(keras.models.load_model(model_path), info)

    log(
        f"training the evaluation classifier on {len(train_images)} binarized MNIST training "
        f"digits ({epochs} epochs; once per machine, cached in {cache_dir})"
    )
    keras.utils.set_random_seed(seed)
    model = build_classifier(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x_train = data.binarize(train_images).astype(np.float32)
    x_test = data.binarize(test_images).astype(np.float32)
    model.fit(x_train, train_labels, batch_size=BATCH_SIZE, epochs=epochs, verbose=2, shuffle=True)
    _, accuracy = model.evaluate(x_test, test_labels, batch_size=1000, verbose=0)
    info = {
        "test_accuracy": float(accuracy),
        "fingerprint": key,
        "epochs": epochs,
        "train_images": int(len(x_train)),
        "test_images": int(len(x_test)),
    }
    log(
        f"evaluation classifier: test accuracy {accuracy:.4f} on {len(x_test)} binarized "
        f"MNIST test digits"
    )
    # The model first, its info last: an info file means a whole cache entry.
    with files.atomic_path(model_path, suffix=".keras") as tmp:
        model.save(tmp)
    files.atomic_write_json(info_path, info)
    info.update(path=model_path, cached=False)
    return DigitClassifier(model, info)
