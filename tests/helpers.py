"""What several test modules share: tiny stand-ins for MNIST written in the real IDX format,
a tiny training config, an untrained exported generator, and running a command as a user
would."""

import gzip
import os
import struct
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout

IDX_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def fake_digits(n, seed=0):
    """[n, 28, 28] uint8 images: a thick bar whose position encodes the label (0..9)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    images = np.zeros((n, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        top = 2 + 2 * int(label)
        images[i, top : top + 5, 6:22] = rng.integers(1, 256, size=(5, 16))
    return images, labels.astype(np.uint8)


def write_idx_images(path, images):
    header = struct.pack(">IIII", 2051, len(images), 28, 28)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(images, np.uint8).tobytes())


def write_idx_labels(path, labels):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + np.asarray(labels, np.uint8).tobytes())


def write_fake_mnist(directory, n_train=96, n_test=32, seed=0):
    """The four MNIST IDX files with tiny fake contents; returns the directory."""
    os.makedirs(directory, exist_ok=True)
    for split, n, s in (("train", n_train, seed), ("test", n_test, seed + 1)):
        images, labels = fake_digits(n, s)
        write_idx_images(os.path.join(directory, IDX_NAMES[split][0]), images)
        write_idx_labels(os.path.join(directory, IDX_NAMES[split][1]), labels)
    return str(directory)


# 96 + 32 images, batch 16 -> 8 generator steps per epoch.
STEPS_PER_EPOCH = 8


def tiny_config(tmp_path, **overrides):
    mnist = tmp_path / "mnist"
    if not mnist.exists():
        write_fake_mnist(mnist)
    base = dict(
        mnist_dir=str(mnist),
        out_dir=str(tmp_path / "run"),
        batch_size=16,
        epochs=2,
        critic_steps=1,
        critic_warmup_steps=2,
        critic_warmup_until=1,
        critic_warmup_every=1000,
        sample_every=5,
        tensorboard=False,
        progress="off",
        seed=1,
    )
    base.update(overrides)
    from binarygan_tf.training import config

    return config.TrainConfig(**base)


def run_script(script, args, cwd, timeout=600):
    """`python SCRIPT ARGS` of the checkout in a fresh process, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def export_untrained_generator(path, neuron, seed=0):
    """An untrained MLP generator exported to `path`, with the metadata training writes."""
    from binarygan_tf.model import export, networks

    generator = networks.build_generator("mlp", neuron, "code", seed=seed)
    return export.export_generator(
        generator,
        str(path),
        metadata=dict(neuron=neuron, arch="mlp", objective="wgan-gp", generator_step=0),
    )
