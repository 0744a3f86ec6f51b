"""compare_authors.py end to end: their unmodified code trains a few steps on tiny data, its
generator is exported in our contract, and the run records what the results page needs.
Skips where ../shared/authors_code or the [authors] extra is absent."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from binarygan_tf.training import run_directory
from tests import helpers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_their_code_trains_exports_and_records_its_time(tmp_path):
    repo = helpers.authors_repo_or_skip()
    helpers.write_fake_mnist(tmp_path / "mnist", n_train=160, n_test=64)
    out = tmp_path / "authors_run"
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "compare_authors.py"),
            "--neuron=sbn",
            "--objective=wgan-gp",
            "--arch=mlp",
            "--max_steps=3",
            f"--mnist_dir={tmp_path / 'mnist'}",
            f"--out_dir={out}",
            f"--authors_repo={repo}",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "done: 3 generator steps" in proc.stdout
    # their generator, rebuilt as ours, computes what their graph computed
    with open(out / "export_check.json") as f:
        check = json.load(f)
    assert check["preactivated_max_abs_diff"] <= 1e-5
    assert check["sample_pixels_differing_away_from_threshold"] == 0
    metadata = run_directory.generator_metadata(str(out / "generator"))
    assert metadata["trained_by"] == "authors_code" and metadata["generator_step"] == 3
    assert (metadata["arch"], metadata["neuron"], metadata["objective"]) == (
        "mlp",
        "sbn",
        "wgan-gp",
    )
    # what publishing and the page read: one closed, timed session, and their commit
    timing = run_directory.read_timing(str(out))
    assert timing["sessions"] == 1 and timing["wall_seconds"] > 0 and "open_session" not in timing
    with open(out / "config.json") as f:
        stored = json.load(f)
    assert stored["authors_commit"] and stored["tool"]["git_commit"]
    # and it loads and samples like any generator of ours: binary, seeded SBN repeatable
    import tensorflow as tf

    generator = tf.saved_model.load(str(out / "generator"))
    z = tf.random.stateless_normal([8, 128], seed=[1, 2])
    first = generator.signatures["sample_seeded"](z=z, seed=tf.constant(5, tf.int64))
    again = generator.signatures["sample_seeded"](z=z, seed=tf.constant(5, tf.int64))
    samples = first["samples"].numpy()
    assert samples.shape == (8, 28, 28, 1) and set(np.unique(samples)) <= {0.0, 1.0}
    np.testing.assert_array_equal(samples, again["samples"].numpy())
