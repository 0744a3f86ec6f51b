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


def test_plan_epochs():
    assert train_lib.plan_epochs(0, 16, 8) == [(0, 8), (1, 8)]
    assert train_lib.plan_epochs(5, 16, 8) == [(0, 3), (1, 8)]
    assert train_lib.plan_epochs(0, 5, 8) == [(0, 5)]
    assert train_lib.plan_epochs(3, 21, 8) == [(0, 5), (1, 8), (2, 5)]
    assert train_lib.plan_epochs(16, 16, 8) == []


@pytest.mark.slow
def test_steps_per_execution_keeps_epochs_logs_and_weights(tmp_path):
    """Several steps per compiled call (3, which does not divide the 8-step epoch) run the
    same steps as one per call: the same number, the same epoch boundaries, and the same
    weights bit for bit (the same XLA-compiled step, called in a loop). The TensorBoard
    points fall where each call ends, and each is the mean of the per-step values since the
    previous point."""
    from tests.test_callbacks import read_events

    runs = {}
    for spe in (1, 3):
        config = tiny_config(
            tmp_path,
            out_dir=str(tmp_path / f"spe{spe}"),
            steps_per_execution=spe,
            tensorboard=True,
            scalars_every=1,
            jit_compile=True,
        )
        result = train_lib.run_training(config, log=lambda *_: None)
        assert result.generator_step == 2 * STEPS_PER_EPOCH
        with open(os.path.join(result.run_dir, run_directory.TRAINING_LOG)) as f:
            rows = list(csv.DictReader(f))
        scalars, _ = read_events(os.path.join(result.run_dir, run_directory.TENSORBOARD_DIR))
        runs[spe] = (rows, scalars, _weights(result.run_dir))

    (rows1, scalars1, weights1), (rows3, scalars3, weights3) = runs[1], runs[3]
    assert [r["generator_step"] for r in rows3] == ["8", "16"]
    assert rows3 == rows1
    for name in weights1:
        np.testing.assert_array_equal(weights3[name], weights1[name], err_msg=name)
    per_step = dict(scalars1["d_loss"])
    assert sorted(per_step) == list(range(1, 17))
    points = scalars3["d_loss"]
    # calls of 3 steps, the epoch's last one shorter: 3, 6, 8 | 11, 14, 16
    assert [step for step, _ in points] == [3, 6, 8, 11, 14, 16]
    # Both sides are recovered from Keras' float32 running means (a window's sum is
    # n * mean_n - m * mean_m): each running total of n <= 8 steps carries at most
    # n^2 eps max|value| of rounding, and a point subtracts two of them, on each side.
    bound = 4 * STEPS_PER_EPOCH**2 * np.finfo(np.float32).eps * max(map(abs, per_step.values()))
    previous = 0
    for step, value in points:
        window = [per_step[s] for s in range(previous + 1, step + 1)]
        assert abs(value - np.mean(window)) <= bound, step
        previous = step


@pytest.mark.slow
def test_a_signal_between_two_epochs_stops_there(tmp_path, monkeypatch):
    """Each epoch is its own fit() call; Ctrl-C in between (here: at epoch 1's end, after
    its checkpoint) is caught by the run's handler, not raised, and no further step runs."""
    import signal

    from binarygan_tf.training import callbacks

    original = callbacks.TrainingLog.on_epoch_end

    def interrupted_at_epoch_end(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(callbacks.TrainingLog, "on_epoch_end", interrupted_at_epoch_end)
    before = signal.getsignal(signal.SIGINT)
    result = train_lib.run_training(tiny_config(tmp_path), log=lambda *_: None)
    assert result.status == "interrupted"
    assert result.generator_step == STEPS_PER_EPOCH
    assert signal.getsignal(signal.SIGINT) is before  # given back
