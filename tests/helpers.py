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
        # One step per compiled call: these tests check what happens at given steps (grids,
        # checkpoints, points, a NaN's step); test_train_lib checks several steps per call.
        steps_per_execution=1,
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


def user_error(proc):
    """The one `error:` line of a command refused as a user's mistake: status 2, no traceback
    (the brief: a wrong flag or a missing file is a sentence, never a stack trace)."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def export_untrained_generator(path, neuron, seed=0):
    """An untrained MLP generator exported to `path`, with the metadata training writes."""
    from binarygan_tf.model import export, networks

    generator = networks.build_generator("mlp", neuron, "code", seed=seed)
    return export.export_generator(
        generator,
        str(path),
        metadata=dict(neuron=neuron, arch="mlp", objective="wgan-gp", generator_step=0),
    )


# ---------------------------------------------------------------- reproduce.py on tiny data
# The end-to-end runs of reproduce.py (smoke profile) that test_sharding, test_publishing,
# test_page and test_job each check a part of. Training them takes minutes, so they are made
# once per test process, whichever of those modules asks first.

# Exp. I (DBN with two seeds, SBN), Exp. II and one CNN: every code path of the page.
SMOKE_RUNS = ("exp1_mlp_dbn", "exp1_mlp_sbn", "exp2_mlp_real", "exp1_mlp_dbn_seed1", "exp4_cnn_dbn")


def start_reproduce(tmp_path, *extra, runs="runs", models="models", results="docs/results.md"):
    """`reproduce.py --profile=smoke` on tmp_path's folders, started; see finish_reproduce."""
    return subprocess.Popen(
        [
            sys.executable,
            os.path.join(ROOT, "reproduce.py"),
            "--profile=smoke",
            f"--mnist_dir={tmp_path / 'mnist'}",
            f"--runs_dir={tmp_path / runs}",
            f"--models_dir={tmp_path / models}",
            f"--results={tmp_path / results}",
            f"--cache_dir={tmp_path / 'cache'}",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )


def finish_reproduce(proc, timeout=900):
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def reproduce(tmp_path, *extra, **folders):
    return finish_reproduce(start_reproduce(tmp_path, *extra, **folders))


def trained(stdout):
    """Run names whose training started or resumed in a reproduce.py output."""
    import re

    return re.findall(r"\] (\w+) \([^)]*\): (?:starting|resuming)", stdout)


def generator_mtimes(models_dir):
    return {
        path: os.stat(path).st_mtime_ns
        for path in (os.path.join(root, n) for root, _, names in os.walk(models_dir) for n in names)
        if f"{os.sep}generator{os.sep}" in path
    }


_SMOKE_JOBS = {}  # "shards", "merged": made once per test process


def smoke_shards(tmp_path_factory):
    """Two machines of a job array, each with its own runs and models folders, running at the
    same time as an array's jobs do (they share only the data and the classifier cache).
    Returns (tmp_path, [CompletedProcess of each shard])."""
    if "shards" not in _SMOKE_JOBS:
        tmp_path = tmp_path_factory.mktemp("reproduce")
        write_fake_mnist(tmp_path / "mnist", n_train=160, n_test=64)
        started = [
            start_reproduce(
                tmp_path,
                f"--only={','.join(SMOKE_RUNS)}",
                f"--shard={i}/2",
                runs=f"runs{i}",
                models=f"models{i}",
            )
            for i in (0, 1)
        ]
        _SMOKE_JOBS["shards"] = (tmp_path, [finish_reproduce(proc) for proc in started])
    return _SMOKE_JOBS["shards"]


def smoke_merged(tmp_path_factory):
    """The shards' published runs copied into one models folder, then the page built from it
    in a fresh runs folder (what a final job after the array does). Returns (tmp_path, its
    CompletedProcess, the generator files' mtimes before it ran)."""
    if "merged" not in _SMOKE_JOBS:
        import shutil

        tmp_path, procs = smoke_shards(tmp_path_factory)
        for proc in procs:
            assert proc.returncode == 0, proc.stderr[-3000:]
        for i in (0, 1):
            shutil.copytree(
                tmp_path / f"models{i}" / "smoke",
                tmp_path / "merged" / "smoke",
                dirs_exist_ok=True,
            )
        before = generator_mtimes(tmp_path / "merged")
        proc = reproduce(
            tmp_path,
            f"--only={','.join(SMOKE_RUNS)}",
            "--stage=page",
            runs="fresh",
            models="merged",
            # Not docs/: the shards share this folder, and test_sharding checks that they
            # wrote no page there, whichever module of a test process built this first.
            results="merged_docs/results.md",
        )
        _SMOKE_JOBS["merged"] = (tmp_path, proc, before)
    return _SMOKE_JOBS["merged"]


# ---------------------------------------------------------------- evaluated runs, made up
# Claims and the page's claims table read only these fields of an evaluation.
def claim_result(fd, end_mass=0.1, notch=1.0, recall=0.5, kl=0.1, real=False, stray=0.02):
    """An evaluation result (evaluations.evaluate_run's metrics) with the given numbers."""
    metrics = {
        "frechet_distance": fd,
        "stray_pixel_share": stray,
        "recall": recall,
        "kl_to_uniform": kl,
        "max_class_share": 0.2,
    }
    return {
        "real_valued": real,
        "variants": {"threshold" if real else "binary": metrics},
        "preactivation": {"end_mass": end_mass, "notch_ratio": notch, "narrow_notch_ratio": notch},
    }


# Trainable parameters of G + D (machine.parameter_counts) at the time of writing.
PARAM_COUNTS = {"mlp": 1_472_817, "cnn": 530_212}


def authors_repo_or_skip():
    """The authors' checkout (../shared/authors_code), or skip the test: it needs their code
    and the `authors` extra (tf-keras, imageio)."""
    import pytest

    from binarygan_tf.authors import client, repository

    if client.missing_packages():
        pytest.skip(f"needs {client.missing_packages()} (pip install 'binarygan-tf[authors]')")
    try:
        return repository.resolve(None)
    except Exception:
        pytest.skip("the authors' checkout (../shared/authors_code) is not here")
