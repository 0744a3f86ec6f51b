"""evaluate.py on data without a classifier (#26 point 4): a generator trained on an .npz of
16x20 images is measured against half of those images with the pyramid-feature measures, the
output says which of MNIST's measures were skipped, and bad pairings are one line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from binarygan_tf.errors import UserError
from binarygan_tf.evaluation import pipeline as evaluation
from binarygan_tf.training import datasets
from tests import helpers

pytestmark = pytest.mark.slow  # trains and exports a generator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (16, 20)


def _bars(n, seed=0, shape=SHAPE):
    """[n, H, W] uint8 0/1: a random bar and a random line per image, all different."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, *shape), np.uint8)
    for i in range(n):
        top, left = rng.integers(0, shape[0] - 4), rng.integers(0, shape[1] - 6)
        out[i, top : top + 4, left : left + 6] = 1
        out[i, rng.integers(0, shape[0]), :] = 1
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step MLP DBN on 40 bar images, exported: (generator path, data file)."""
    from binarygan_tf.training import train_lib

    root = tmp_path_factory.mktemp("any_data")
    data_file = root / "bars.npz"
    np.savez(data_file, images=_bars(40))
    config = helpers.tiny_config(
        root,
        dataset=f"npz:{data_file}",
        mnist_dir=None,
        out_dir=str(root / "run"),
        jit_compile=False,
        max_steps=2,
        critic_warmup_steps=1,
        critic_warmup_until=0,
        batch_size=8,
    )
    result = train_lib.run_training(config, log=lambda *_: None)
    return result.generator_path, str(data_file), root


@pytest.fixture(scope="module")
def results(trained):
    generator, _, root = trained
    out = root / "eval"
    return out, evaluation.evaluate(
        [generator], str(out), num_samples=64, seed=0, log=lambda *_: None
    )


def test_the_generators_own_data_is_the_yardstick(results, trained):
    out, res = results
    _, data_file, _ = trained
    assert res["dataset"] == f"npz:{data_file}"  # read from binarygan.json, no flag given
    assert res["measures"] == "binary" and res["classifier"] is None
    assert res["num_samples"] == 20  # half of the 40 images; the other half is the real row
    stored = json.loads((out / "metrics.json").read_text())
    reference, model = stored["reference"], stored["models"][0]
    for row in (reference, model["variants"]["binary"]):
        assert {"pyramid_precision", "pyramid_recall", "pyramid_fd"} <= set(row)
        assert 0.0 <= row["pyramid_precision"] <= 1.0 and row["pyramid_fd"] >= 0.0
        assert "frechet_distance" not in row  # no classifier features
    assert reference["binary_fraction"] == 1.0
    assert reference["data_pixel_density"] == pytest.approx(_bars(40).mean(), rel=0.25)
    # Held-out real bars are closer to the data than an untrained generator's samples.
    assert reference["pyramid_fd"] < model["variants"]["binary"]["pyramid_fd"]
    assert 0.0 <= model["preactivation"]["end_mass"] <= 1.0


def test_skipped_measures_are_named_with_their_reason(results):
    out, res = results
    assert set(res["skipped"]) == set(evaluation.CLASSIFIER_ONLY)
    table = (out / "metrics.md").read_text()
    assert table.startswith("| model | FD (pyramid) | precision | recall |")
    assert f"| {evaluation.HELD_OUT_LABEL} |" in table
    assert "Skipped for npz:" in table and "- classifier score: needs p(y|x)" in table


def test_figures_are_drawn_at_the_datas_size(results):
    out, res = results
    (grid,) = [f for f in os.listdir(out) if f.endswith("_samples.png")]
    assert (out / grid).stat().st_size > 3000
    assert (out / "preactivation_histogram.png").is_file()


def test_the_split_is_seeded_and_disjoint(trained):
    _, data_file, _ = trained
    a = evaluation.make_binary_yardstick(f"npz:{data_file}", None, 100, seed=0, log=print)
    b = evaluation.make_binary_yardstick(f"npz:{data_file}", None, 100, seed=0, log=print)
    np.testing.assert_array_equal(a.reference, b.reference)
    assert a.reference.shape == a.held_out.shape == (20, *SHAPE, 1)
    everything = datasets.load_images(f"npz:{data_file}").reshape(40, -1)
    rows = {r.tobytes() for r in everything}
    halves = {r.tobytes() for r in a.reference.astype(np.uint8).reshape(20, -1)} | {
        r.tobytes() for r in a.held_out.astype(np.uint8).reshape(20, -1)
    }
    assert halves == rows  # the two halves together are the data, each image once


def test_data_of_another_size_is_refused_in_one_line(trained, tmp_path):
    generator, _, _ = trained
    other = tmp_path / "square.npy"
    np.save(other, _bars(40, shape=(12, 12)))
    with pytest.raises(UserError, match=r"draws 16 x 20 images but npy:.* holds 12 x 12"):
        evaluation.evaluate(
            [generator], str(tmp_path / "out"), num_samples=64, dataset=f"npy:{other}"
        )
    few = tmp_path / "few.npy"
    np.save(few, _bars(6))
    with pytest.raises(UserError, match="too few to measure"):
        evaluation.evaluate([generator], str(tmp_path / "out2"), dataset=f"npy:{few}")


def test_mnist_generators_still_get_the_classifier():
    """MNIST binarized as pixel > 0 is the only data with the digit classifier."""
    assert evaluation.has_classifier("mnist", None)
    assert evaluation.has_classifier("mnist", "nonzero")
    assert not evaluation.has_classifier("mnist", "0.5")
    assert not evaluation.has_classifier("npz:/x.npz", None)


def test_command_line_measures_any_data_and_a_bad_spec_is_one_line(trained, tmp_path):
    generator, data_file, _ = trained
    ok = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "evaluate.py"),
            f"--generator={generator}",
            f"--out_dir={tmp_path}/out",
            "--num_samples=64",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert "no classifier: pyramid features of npz:" in ok.stdout
    assert "Skipped for npz:" in ok.stdout
    bad = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "evaluate.py"),
            f"--generator={generator}",
            f"--out_dir={tmp_path}/out2",
            "--dataset=zip:nothing",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert "--dataset" in helpers.user_error(bad)
    assert not (tmp_path / "out2").exists()


def test_the_same_images_from_a_folder_or_an_npy_measure_alike(trained, results, tmp_path):
    """Each source is read into the same images (in their order), so the same generator
    measured against the same images from a folder of PNGs or an .npy gets the same numbers."""
    from PIL import Image

    generator, _, _ = trained
    _, first = results
    images = _bars(40)
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image.astype(bool)).convert("1").save(folder / f"{i:03d}.png")
    np.save(tmp_path / "bars.npy", images)
    for spec in (f"folder:{folder}", f"npy:{tmp_path / 'bars.npy'}"):
        again = evaluation.evaluate(
            [generator], str(tmp_path / "out"), num_samples=64, dataset=spec, log=lambda *_: None
        )
        assert again["reference"] == first["reference"], spec
        assert again["models"][0]["variants"] == first["models"][0]["variants"], spec
