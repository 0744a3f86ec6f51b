"""sampling.py / sample.py: one seed, one picture (SBN noise included); files; bad input."""

import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from binarygan_tf.errors import UserError
from binarygan_tf.evaluation import sampling
from binarygan_tf.model import export
from tests import helpers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _export(path, neuron, seed=0):
    return helpers.export_untrained_generator(path, neuron, seed)


@pytest.fixture(scope="module")
def generators(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    return {neuron: _export(root / neuron / "generator", neuron) for neuron in ("dbn", "sbn")}


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


# ---------------------------------------------------------------- the library
@pytest.mark.parametrize("neuron", ["dbn", "sbn"])
def test_same_seed_same_samples_other_seed_other_samples(generators, neuron):
    first = sampling.sample(generators[neuron], 64, seed=3)
    assert first.shape == (64, 28, 28, 1) and first.dtype == np.float32
    assert set(np.unique(first)) == {0.0, 1.0}
    np.testing.assert_array_equal(first, sampling.sample(generators[neuron], 64, seed=3))
    other = sampling.sample(generators[neuron], 64, seed=4)
    assert np.mean(first != other) > 0.05  # another z (and other noise): many pixels change


def test_sbn_samples_are_the_seeded_signature_on_the_seeds_streams(generators):
    """The documented recipe, done by hand, gives the tool's samples."""
    signature = tf.saved_model.load(generators["sbn"]).signatures["sample_seeded"]
    z = tf.constant(sampling.latent(16, 5))
    expected = signature(z=z, seed=tf.constant(sampling.noise_seed(5), tf.int64))["samples"]
    np.testing.assert_array_equal(sampling.sample(generators["sbn"], 16, seed=5), expected)
    p = sampling.sample(generators["sbn"], 16, seed=5, preactivated=True)
    assert p.min() > 0.0 and p.max() < 1.0 and len(np.unique(p)) > 1000


def test_preactivated_outputs_are_not_binary_and_match_the_samples(generators):
    samples = sampling.sample(generators["dbn"], 32, seed=1)
    p = sampling.sample(generators["dbn"], 32, seed=1, preactivated=True)
    assert p.shape == (32, 28, 28, 1)
    np.testing.assert_array_equal(samples, (p > 0.5).astype(np.float32))


def test_files_npy_exact_and_png_deterministic(generators, tmp_path):
    outs = [str(tmp_path / "a" / "grid.png"), str(tmp_path / "a" / "samples.npy")]
    assert sampling.sample_to_files(generators["sbn"], 64, 2, outs) == outs
    again = sampling.sample_to_files(generators["sbn"], 64, 2, [str(tmp_path / "b.png")])
    other = sampling.sample_to_files(generators["sbn"], 64, 9, [str(tmp_path / "c.png")])
    stored = np.load(outs[1])
    assert stored.shape == (64, 28, 28, 1) and stored.dtype == np.float32
    assert np.isin(stored, [0.0, 1.0]).all() and 0.2 < stored.mean() < 0.8
    np.testing.assert_array_equal(stored, sampling.sample(generators["sbn"], 64, 2))
    with open(outs[0], "rb") as a, open(again[0], "rb") as b, open(other[0], "rb") as c:
        first = a.read()
        assert first == b.read() and first != c.read()
    assert _png_size(outs[0]) == (400, 430)  # 8x8 at 0.5 in per image, as the training grids
    assert sorted(os.listdir(tmp_path / "a")) == ["grid.png", "samples.npy"]  # no temp files


def test_grid_is_near_square(generators, tmp_path):
    assert [sampling.grid_shape(n) for n in (1, 2, 30, 64, 65, 100)] == [
        (1, 1),
        (1, 2),
        (5, 6),
        (8, 8),
        (8, 9),
        (10, 10),
    ]
    path = sampling.sample_to_files(
        generators["dbn"], 30, 0, [str(tmp_path / "p.png")], preactivated=True
    )[0]
    assert _png_size(path) == (360, 280)  # 6 x 0.5 in + colour bar, 2.5 in + title


def test_bad_requests_are_user_errors(generators, tmp_path):
    with pytest.raises(UserError, match="--num must be between 1 and 10000, got 0"):
        sampling.sample(generators["dbn"], 0, 0)
    with pytest.raises(UserError, match="--seed must be a non-negative integer"):
        sampling.sample(generators["dbn"], 4, -1)
    with pytest.raises(UserError, match="extension must be .png .* or .npy"):
        sampling.sample_to_files(generators["dbn"], 4, 0, [str(tmp_path / "x.jpg")])
    with pytest.raises(UserError, match="does not exist"):
        sampling.sample(str(tmp_path / "nope"), 4, 0)
    assert os.listdir(tmp_path) == []
    (tmp_path / "config.json").write_text("{}")  # a run directory, not its generator/
    with pytest.raises(UserError, match="not a SavedModel.*pass its generator/ folder"):
        sampling.sample(str(tmp_path), 4, 0)


def test_an_sbn_without_the_seeded_signature_is_refused(tmp_path):
    """An SBN exported before `sample_seeded` existed cannot be seeded: say so, once."""
    module = tf.Module()
    module.f = tf.function(
        lambda z: {
            "samples": tf.zeros([tf.shape(z)[0], 28, 28, 1]),
            "preactivated": tf.zeros([tf.shape(z)[0], 28, 28, 1]),
        },
        input_signature=[tf.TensorSpec([None, 128], tf.float32, name="z")],
    )
    path = tmp_path / "old"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.f})
    (path / export.METADATA_FILE).write_text('{"neuron": "sbn"}')
    with pytest.raises(UserError, match="no sample_seeded signature.*Export it again"):
        sampling.sample(str(path), 4, 0)
    (path / export.METADATA_FILE).write_text('{"neuron": "dbn"}')  # nothing to seed: fine
    assert sampling.sample(str(path), 4, 0).shape == (4, 28, 28, 1)


def test_a_generator_of_other_images_samples_its_shape(tmp_path):
    """The shape comes from binarygan.json (contract.image_shape); the grid keeps MNIST's
    scale of 0.5 inch per 28 pixels; a metadata of another shape is caught."""
    from binarygan_tf.model import networks

    generator = networks.build_generator("mlp", "sbn", "code", seed=0, image_shape=(14, 42))
    path = export.export_generator(generator, str(tmp_path / "g"), metadata={"neuron": "sbn"})
    samples = sampling.sample(path, 16, seed=1)
    assert samples.shape == (16, 14, 42, 1) and set(np.unique(samples)) == {0.0, 1.0}
    np.testing.assert_array_equal(samples, sampling.sample(path, 16, seed=1))
    grid = sampling.sample_to_files(path, 64, 0, [str(tmp_path / "grid.png")])[0]
    assert _png_size(grid) == (600, 280)  # 8 x 0.75 in wide, 2.5 in minimum + title
    (tmp_path / "g" / export.METADATA_FILE).write_text('{"neuron": "sbn"}')  # says 28x28
    with pytest.raises(UserError, match=r"says its images are \[28, 28, 1\] but it draws"):
        sampling.sample(path, 4, 0)
    (tmp_path / "g" / export.METADATA_FILE).write_text('{"image_shape": [14, 42, 3]}')
    with pytest.raises(UserError, match="binarygan.json: image shape"):
        sampling.sample(path, 4, 0)


# ---------------------------------------------------------------- the command
def _run(*args, cwd):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "sample.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=180,
    )


@pytest.mark.slow
def test_command_writes_what_it_says(generators, tmp_path):
    proc = _run(
        f"--generator={generators['sbn']}",
        "--num=10",
        "--seed=4",
        "--out=g.png",
        "--out=s.npy",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["wrote g.png", "wrote s.npy"]
    assert _png_size(tmp_path / "g.png") == (250, 280)  # 10 samples: 3x4 grid, 2.5 in minimum
    np.testing.assert_array_equal(
        np.load(tmp_path / "s.npy"), sampling.sample(generators["sbn"], 10, seed=4)
    )


def _wrong_signature_model(root):
    module = tf.Module()
    module.f = tf.function(
        lambda x: {"y": x * 2.0}, input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")]
    )
    tf.saved_model.save(module, str(root / "wrong"), signatures={"serving_default": module.f})
    return str(root / "wrong")


@pytest.mark.parametrize(
    "case,needle",
    [
        ("missing", "does not exist"),
        pytest.param("wrong_signature", "must take z of shape [N, 128]", marks=pytest.mark.slow),
        ("extension", "extension must be .png"),
        ("num", "--num must be between 1 and 10000"),
        ("no_out", "--out is required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(generators, tmp_path, case, needle):
    generator = {"missing": str(tmp_path / "nope")}.get(case, generators["dbn"])
    if case == "wrong_signature":
        generator = _wrong_signature_model(tmp_path)
    args = [f"--generator={generator}", "--out=out/g.png"]
    args = {
        "extension": [args[0], "--out=out/g.jpg"],
        "num": args + ["--num=0"],
        "no_out": args[:1],
    }.get(case, args)
    before = sorted(os.listdir(tmp_path))
    proc = _run(*args, cwd=tmp_path)
    error = helpers.user_error(proc)
    assert needle in error, proc.stderr
    if case != "wrong_signature":  # refused before TensorFlow loads, so nothing else printed
        assert proc.stderr.splitlines() == [error]
    assert sorted(os.listdir(tmp_path)) == before  # nothing written
