"""Training end to end on tiny fake MNIST: run directory, slope annealing, resume, export."""

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from binarygan_tf.training import run_directory, train_lib
from tests.helpers import STEPS_PER_EPOCH, tiny_config


def _weights(run_dir):
    """Final generator weights, read from the exported SavedModel's variables."""
    import tensorflow as tf

    loaded = tf.saved_model.load(os.path.join(run_dir, "generator"))
    return {v.name: v.numpy() for v in loaded.variables}


@pytest.mark.slow
def test_full_run_writes_everything_and_anneals_slope(tmp_path):
    result = train_lib.run_training(tiny_config(tmp_path, epochs=3), log=lambda *_: None)
    run = result.run_dir
    assert result.status == "completed"
    assert result.generator_step == 3 * STEPS_PER_EPOCH
    # Annealed after epochs 1 and 2, not after the last: the exported generator keeps the
    # slope its last epoch trained with (1.1 ** (epochs - 1)).
    assert result.slope == pytest.approx(1.1**2, rel=1e-6)
    config = json.loads(Path(run, "config.json").read_text())
    assert config["neuron"] == "dbn" and config["follow"] == "code"
    samples = set(os.listdir(os.path.join(run, "samples")))
    assert {
        "step_000000.png",
        "step_000005.png",
        "step_000010.png",
        "epoch_001.png",
        "epoch_002_preactivated.png",
    } <= samples
    rows = list(csv.DictReader(Path(run, "logs", "training_log.csv").read_text().splitlines()))
    assert [float(r["slope"]) for r in rows] == pytest.approx([1.1, 1.21, 1.21])
    assert all(np.isfinite(float(r["d_loss"])) for r in rows)
    assert os.path.isfile(os.path.join(run, "generator", "saved_model.pb"))
    meta = json.loads(Path(run, "generator", "binarygan.json").read_text())
    assert meta["generator_step"] == 24 and meta["neuron"] == "dbn"
    assert meta["slope"] == pytest.approx(1.21)


EXPORT_CHECK = textwrap.dedent("""
    import sys, json
    import numpy as np, tensorflow as tf
    m = tf.saved_model.load(sys.argv[1])
    fn = m.signatures["serving_default"]
    z = tf.random.normal((10, 128), seed=0)
    out = fn(z=z)
    s, p = out["samples"].numpy(), out["preactivated"].numpy()
    print(json.dumps(dict(
        project_imported=any(k.startswith("binarygan_tf") for k in sys.modules),
        shapes=[list(s.shape), list(p.shape)], dtypes=[str(s.dtype), str(p.dtype)],
        binary=bool(np.isin(s, [0.0, 1.0]).all()),
        p_range=[float(p.min()), float(p.max())],
        threshold_match=bool(np.array_equal(s, (p > 0.5).astype(np.float32))),
        inputs=sorted(fn.structured_input_signature[1]),
        deterministic=bool(np.array_equal(s, fn(z=z)["samples"].numpy())))))
""")


@pytest.mark.slow
@pytest.mark.parametrize("neuron", ["dbn", "sbn", "real"])
def test_export_honours_the_contract_in_a_fresh_process(tmp_path, neuron):
    config = tiny_config(tmp_path, neuron=neuron, epochs=1, max_steps=3)
    result = train_lib.run_training(config, log=lambda *_: None)
    script = tmp_path / "check.py"
    script.write_text(EXPORT_CHECK)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, str(script), result.generator_path],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["project_imported"] is False
    assert info["shapes"] == [[10, 28, 28, 1]] * 2
    assert info["dtypes"] == ["float32", "float32"]
    assert info["inputs"] == ["z"]
    assert info["p_range"][0] > 0.0 and info["p_range"][1] < 1.0
    assert info["binary"] is (neuron != "real")
    if neuron == "dbn":
        assert info["threshold_match"] and info["deterministic"]


@pytest.mark.slow
def test_resume_continues_to_the_same_state(tmp_path):
    straight = train_lib.run_training(
        tiny_config(tmp_path, out_dir=str(tmp_path / "a")), log=lambda *_: None
    )
    # Stop mid-epoch 1 (step 5 of 8), then resume to the end.
    first = train_lib.run_training(
        tiny_config(tmp_path, out_dir=str(tmp_path / "b"), max_steps=5), log=lambda *_: None
    )
    assert first.generator_step == 5 and first.slope == pytest.approx(1.0)
    resumed = train_lib.run_training(
        tiny_config(tmp_path, out_dir=str(tmp_path / "b"), resume=True), log=lambda *_: None
    )
    assert resumed.generator_step == straight.generator_step == 16
    assert resumed.slope == pytest.approx(straight.slope)
    # its wall time is summed over both sessions, neither left open
    timing = run_directory.read_timing(resumed.run_dir)
    assert timing["sessions"] == 2 and "open_session" not in timing
    trained = first.wall_seconds + resumed.wall_seconds  # both up to their exports
    assert trained <= timing["wall_seconds"] < trained + 60
    a, b = _weights(straight.run_dir), _weights(resumed.run_dir)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-6, err_msg=name)


def test_plan_segments():
    assert train_lib.plan_segments(0, 16, 8) == [(0, 2, 8)]
    assert train_lib.plan_segments(5, 16, 8) == [(0, 1, 3), (1, 2, 8)]
    assert train_lib.plan_segments(0, 5, 8) == [(0, 1, 5)]
    assert train_lib.plan_segments(3, 21, 8) == [(0, 1, 5), (1, 2, 8), (2, 3, 5)]
    assert train_lib.plan_segments(16, 16, 8) == []
