"""The MNIST classifier whose features and predictions drive the quality metrics.

FID-style numbers need a feature extractor that knows digits. Inception knows nothing about
28x28 binary strokes, so, as is usual for MNIST GAN papers, we train a small CNN on the
binarized MNIST training digits (the same binarization as the GAN data, pixel > 0) and use its
128-unit penultimate layer as features and its softmax as p(y|x).

Every FD is a distance in this network's features, so the network is part of the yardstick:
retrained on another CPU it reaches another accuracy (0.9873 against 0.9879) and moves every
FD by 4-6%, enough to flip a claim near its rule (#28). So the network is published with the
models (`models/classifier/`: its weights, about 1 MB, and a JSON naming their digest), is
loaded by default, and every cached metric is keyed on the weights' digest, not on the
training data. Training one is on request (`--classifier=train`, cached per machine and data
set) or for data that has none.
"""

import hashlib
import json
import os

import keras
import numpy as np

from binarygan_tf import files, locations, provenance
from binarygan_tf.errors import DataError, UserError
from binarygan_tf.training import data

CACHE_ENV_VAR = "BINARYGAN_CACHE_DIR"
FEATURES_LAYER = "features"
VERSION = 1  # bump when the architecture or the recipe below changes: invalidates caches
EPOCHS = 5  # enough for the accuracy REQUIRED_ACCURACY asks (docs/evaluation.md: measured)
BATCH_SIZE = 128
REQUIRED_ACCURACY = 0.985  # the bar the evaluation issue sets; below it we warn loudly

# Where the classifier comes from (--classifier): the published one (default), one trained on
# this machine (cached), or a folder holding a published-style pair of files.
PUBLISHED, TRAIN = "published", "train"
PUBLISHED_DIR = os.path.join(locations.CHECKOUT_DIR, "models", "classifier")
WEIGHTS_FILE = "mnist_classifier.weights.h5"
INFO_FILE = "mnist_classifier.json"
DIGEST_CHARS = 16  # hex digits of sha256 kept: 64 bits, no collision among a few classifiers


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


def weights_digest(model):
    """sha256 of the weights' values (shapes and float32 bytes, in the architecture's order).

    Of the values, not of the file: HDF5 files of equal weights need not be equal bytes, and
    what a metric depends on is the values."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        values = np.ascontiguousarray(weight, dtype=np.float32)
        digest.update(repr(values.shape).encode())
        digest.update(values.tobytes())
    return digest.hexdigest()[:DIGEST_CHARS]


def fingerprint(images, labels):
    digest = hashlib.sha1(np.ascontiguousarray(images).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()[:12]


class DigitClassifier:
    """Features and class probabilities of binary 28x28 images, plus how good the net is."""

    def __init__(self, model, info):
        self.model = model
        self.info = dict(info, digest=weights_digest(model))  # test_accuracy, path, ...
        self._both = keras.Model(
            model.inputs, [model.get_layer(FEATURES_LAYER).output, model.outputs[0]]
        )

    @property
    def test_accuracy(self):
        return self.info["test_accuracy"]

    @property
    def digest(self):
        """What cached metrics are keyed on: equal digests, equal features."""
        return self.info["digest"]

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
        "seed": seed,
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


def load(source=PUBLISHED, mnist_dir=None, tfds_data_dir=None, cache_dir=None, log=print):
    """The classifier `source` names (--classifier): `published`, `train` or a folder."""
    if source == TRAIN:
        return load_or_train(mnist_dir, tfds_data_dir, cache_dir, log=log)
    return load_published(PUBLISHED_DIR if source in (None, PUBLISHED) else source)


def load_published(folder=PUBLISHED_DIR):
    """The classifier published in `folder`, after checking its weights against the digest
    its JSON records (a truncated or swapped weights file is a one-line error, not quietly
    different numbers)."""
    weights_path = os.path.join(folder, WEIGHTS_FILE)
    info_path = os.path.join(folder, INFO_FILE)
    missing = [p for p in (weights_path, info_path) if not os.path.isfile(p)]
    if missing:
        raise UserError(
            f"no published evaluation classifier: {' and '.join(missing)} missing. Pass "
            f"--classifier=train to train one on this machine (cached; its numbers are not "
            f"comparable with the published ones), or --classifier=DIR for a folder holding "
            f"{WEIGHTS_FILE} and {INFO_FILE}."
        )
    try:
        with open(info_path) as f:
            info = json.load(f)
        recorded = info["digest"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{info_path} is not a classifier description ({e}).") from None
    model = build_classifier()
    try:
        model.load_weights(weights_path)
    except Exception as e:  # h5py and Keras raise many types for a damaged file
        raise DataError(
            f"{weights_path} does not hold the evaluation classifier's weights "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})."
        ) from None
    clf = DigitClassifier(model, dict(info, path=weights_path, cached=True, published=True))
    if clf.digest != recorded:
        raise DataError(
            f"{weights_path}: its weights' digest is {clf.digest}, but {info_path} records "
            f"{recorded}; the file was changed or damaged. Restore it from git."
        )
    return clf


def publish(clf, folder=PUBLISHED_DIR):
    """Write `clf` as a published classifier: its weights, then the JSON naming their digest
    (the JSON last, so a JSON on disk means a whole pair)."""
    os.makedirs(folder, exist_ok=True)
    bare = build_classifier()  # uncompiled: Keras would store a compiled model's Adam slots too
    bare.set_weights(clf.model.get_weights())
    with files.atomic_path(os.path.join(folder, WEIGHTS_FILE), suffix=".weights.h5") as tmp:
        bare.save_weights(tmp)
    keep = ("test_accuracy", "fingerprint", "epochs", "train_images", "test_images")
    info = {name: clf.info[name] for name in keep if name in clf.info}
    info.update(
        digest=clf.digest,
        version=VERSION,
        seed=clf.info.get("seed"),
        trained_with=provenance.code_version(),
    )
    files.atomic_write_json(os.path.join(folder, INFO_FILE), info)
    return info
