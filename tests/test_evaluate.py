"""evaluation.py / evaluate.py: the SavedModel contract, figures, metrics.json, bad input."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from binarygan_tf.errors import UserError
from binarygan_tf.evaluation import classifier
from binarygan_tf.evaluation import pipeline as evaluation
from tests import helpers

pytestmark = pytest.mark.slow  # trains, or runs commands end to end

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_MNIST = os.path.join(REPO, "..", "shared", "mnist")


def _export(path, neuron, seed=0):
    return helpers.export_untrained_generator(path, neuron, seed)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    keras.utils.set_random_seed(0)
    return {
        "mnist": helpers.write_fake_mnist(root / "mnist", n_train=256, n_test=128),
        "cache": str(root / "cache"),
        "dbn": _export(root / "dbn_run" / "generator", "dbn"),
        "real": _export(root / "real_run" / "generator", "real", seed=1),
        "root": root,
    }


@pytest.fixture(scope="module")
def results(workspace):
    out = workspace["root"] / "out"
    return out, evaluation.evaluate(
        [workspace["dbn"], workspace["real"]],
        str(out),
        num_samples=200,
        seed=0,
        mnist_dir=workspace["mnist"],
        cache_dir=workspace["cache"],
        log=lambda *_: None,
    )


def test_metrics_json_has_reference_and_every_variant(results):
    out, res = results
    with open(out / "metrics.json") as f:
        stored = json.load(f)
    assert stored["num_samples"] == 200
    assert [m["label"] for m in stored["models"]] == ["MLP DBN, WGAN-GP", "MLP REAL, WGAN-GP"]
    dbn, real = stored["models"]
    assert list(dbn["variants"]) == ["binary"]
    assert list(real["variants"]) == ["raw", "threshold", "bernoulli"]
    assert dbn["variants"]["binary"]["binary_fraction"] == 1.0
    assert real["variants"]["threshold"]["binary_fraction"] == 1.0
    assert real["variants"]["bernoulli"]["binary_fraction"] == 1.0
    assert real["variants"]["raw"]["binary_fraction"] < 0.01  # sigmoid outputs, not 0/1
    for row in [stored["reference"], dbn["variants"]["binary"]]:
        assert 1.0 <= row["classifier_score"] <= 10.0
        assert row["frechet_distance"] >= 0.0
        assert 0.0 <= row["precision"] <= 1.0 and 0.0 <= row["recall"] <= 1.0
        assert sum(row["class_shares"]) == pytest.approx(1.0)
        assert 0.0 <= row["stray_pixel_share"] < 1.0
    # the reference row is real digits: binary, with the data's density
    assert stored["reference"]["binary_fraction"] == 1.0
    assert stored["reference"]["pixel_density"] == pytest.approx(stored["data_density"], rel=0.2)
    assert 0.0 <= dbn["preactivation"]["end_mass"] <= 1.0


def test_an_untrained_generator_is_far_from_the_data(results):
    _, res = results
    reference = res["reference"]["frechet_distance"]
    untrained = res["models"][0]["variants"]["binary"]["frechet_distance"]
    assert untrained > reference


def test_figures_are_written_and_non_empty(results):
    out, res = results
    expected = [
        "preactivation_histogram.png",
        "samples_side_by_side.png",
        "mlp_dbn_wgan_gp_samples.png",
        "mlp_real_wgan_gp_samples.png",
        "mlp_real_wgan_gp_binarizations.png",
    ]
    for name in expected:
        path = out / name
        assert path.is_file() and path.stat().st_size > 5000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_lists_reference_then_models(results):
    out, res = results
    table = (out / "metrics.md").read_text().splitlines()
    assert table[2].startswith("| " + evaluation.REFERENCE_LABEL)
    assert any(line.startswith("| MLP REAL, WGAN-GP [bernoulli]") for line in table)
    assert len(table) == 2 + 1 + 1 + 3


def test_classifier_is_cached_and_reused(workspace, results, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier should have been used")

    trained = classifier.load_or_train(
        workspace["mnist"], cache_dir=workspace["cache"], log=lambda *_: None
    )
    monkeypatch.setattr(keras.Model, "fit", no_training)
    first = classifier.load_or_train(
        workspace["mnist"], cache_dir=workspace["cache"], log=lambda *_: None
    )
    assert first.info["cached"] is True
    images = helpers.fake_digits(16, seed=5)[0][..., None].astype(np.float32)
    f1, p1 = first.features_and_probs(images)
    f2, p2 = classifier.load_or_train(
        workspace["mnist"], cache_dir=workspace["cache"], log=lambda *_: None
    ).features_and_probs(images)
    assert f1.shape == (16, 128) and p1.shape == (16, 10)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(f1, f2)
    assert first.digest == trained.digest  # the same weights, the same key for metrics


# ---------------------------------------------------------------- the published classifier
def test_evaluation_uses_the_published_classifier_by_default(results):
    _, res = results
    published = classifier.load_published()
    assert res["classifier"]["digest"] == published.digest
    assert res["classifier"]["published"] is True
    assert published.info["digest"] == published.digest  # the JSON names these very weights
    assert published.test_accuracy >= classifier.REQUIRED_ACCURACY


def test_published_classifier_round_trips_with_its_digest(tmp_path):
    keras.utils.set_random_seed(3)
    clf = classifier.DigitClassifier(classifier.build_classifier(seed=3), {"test_accuracy": 0.5})
    info = classifier.publish(clf, str(tmp_path))
    loaded = classifier.load(str(tmp_path))
    assert loaded.digest == clf.digest == info["digest"]
    images = helpers.fake_digits(8, seed=1)[0][..., None].astype(np.float32)
    np.testing.assert_array_equal(
        loaded.features_and_probs(images)[0], clf.features_and_probs(images)[0]
    )
    other = classifier.DigitClassifier(classifier.build_classifier(seed=4), {})
    assert other.digest != clf.digest  # different weights, a different key


def test_a_changed_or_damaged_classifier_is_refused(tmp_path):
    keras.utils.set_random_seed(3)
    clf = classifier.DigitClassifier(classifier.build_classifier(seed=3), {"test_accuracy": 0.5})
    classifier.publish(clf, str(tmp_path))
    info_path = tmp_path / classifier.INFO_FILE
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps(dict(info, digest="0" * classifier.DIGEST_CHARS)))
    with pytest.raises(UserError, match="digest is .* records 0000"):
        classifier.load_published(str(tmp_path))
    info_path.write_text(json.dumps(info))
    weights = tmp_path / classifier.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    with pytest.raises(UserError, match="does not hold the evaluation classifier") as e:
        classifier.load_published(str(tmp_path))
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="--classifier=train"):
        classifier.load_published(str(tmp_path / "nothing_here"))


def test_a_bad_classifier_flag_is_one_line_before_tensorflow(tmp_path, workspace):
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "evaluate.py"),
            f"--generator={workspace['dbn']}",
            f"--out_dir={tmp_path}/out",
            f"--classifier={tmp_path}/no_such_folder",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert "--classifier=" in helpers.user_error(proc)


def test_same_seed_same_numbers(workspace, results, tmp_path):
    _, first = results
    again = evaluation.evaluate(
        [workspace["dbn"]],
        str(tmp_path),
        num_samples=200,
        seed=0,
        mnist_dir=workspace["mnist"],
        cache_dir=workspace["cache"],
        log=lambda *_: None,
    )
    assert again["models"][0]["variants"] == first["models"][0]["variants"]


# ---------------------------------------------------------------- bad input
def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        evaluation.load_generator(str(tmp_path / "nope"))


def test_a_run_directory_is_not_a_savedmodel_and_the_hint_says_so(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError, match="not a SavedModel.*generator/ folder"):
        evaluation.load_generator(str(tmp_path))


def test_wrong_signature_is_a_clear_error(tmp_path):
    module = tf.Module()
    module.f = tf.function(
        lambda x: {"y": x * 2.0}, input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")]
    )
    tf.saved_model.save(module, str(tmp_path / "wrong"), signatures={"serving_default": module.f})
    with pytest.raises(UserError, match=r"must take z of shape \[N, 128\]"):
        evaluation.load_generator(str(tmp_path / "wrong"))
    tf.saved_model.save(module, str(tmp_path / "nosig"), signatures={"other": module.f})
    with pytest.raises(UserError, match="no serving_default signature"):
        evaluation.load_generator(str(tmp_path / "nosig"))


def test_corrupt_savedmodel_is_a_clear_error(tmp_path, workspace):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(UserError, match="could not be loaded"):
        evaluation.load_generator(str(broken))


def test_label_count_must_match(workspace, tmp_path):
    with pytest.raises(UserError, match="one label per generator"):
        evaluation.evaluate([workspace["dbn"]], str(tmp_path), labels=["a", "b"])


def test_command_line_error_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "evaluate.py"),
            f"--generator={tmp_path}/nope",
            f"--out_dir={tmp_path}/out",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert "does not exist" in helpers.user_error(proc)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not os.path.isdir(SHARED_MNIST), reason="real MNIST not beside the repo")
def test_published_classifier_has_its_recorded_accuracy_on_real_mnist():
    """The accuracy the JSON (and the page) states is what these weights score here. A float
    rounding can flip an argmax only where two classes tie to 1e-6, so at most a digit or
    two of the 10,000 may differ from the machine that published it."""
    from binarygan_tf.training import data

    clf = classifier.load_published()
    images, labels = data.load_mnist_split("test", SHARED_MNIST)
    _, probs = clf.features_and_probs(data.binarize(images).astype(np.float32))
    accuracy = float(np.mean(probs.argmax(axis=1) == labels))
    assert abs(accuracy - clf.test_accuracy) <= 2 / len(labels)
    assert accuracy >= classifier.REQUIRED_ACCURACY
