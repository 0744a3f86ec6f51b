"""A user never loses a run to a typo, a kill or a NaN, and never sees a traceback for their
own mistake. Each test here backs one line of docs/robustness.md."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from binarygan_tf.errors import TrainingFailed
from binarygan_tf.model import export, objectives
from binarygan_tf.training import run_directory, train_lib
from tests import helpers
from tests.helpers import ROOT, run_script, tiny_config, write_fake_mnist

pytestmark = pytest.mark.slow  # trains, or runs commands end to end


def run_cli(args, cwd, timeout=300):
    return run_script("train.py", args, cwd, timeout)


# ------------------------------------------------------------------ bad flags and data
BAD_ARGS = [
    (["--neuron=xbn"], "neuron"),
    (["--objective=lsgan"], "objective"),
    (["--arch=rnn"], "arch"),
    (["--batch_size=0"], "batch_size"),
    (["--epochs=-1"], "epochs"),
    (["--slope_annealing_rate=-1.1"], "slope_annealing_rate"),
    (["--resume"], "no checkpoint"),
    (["--bogus_flag=1"], "bogus_flag"),
    (["--flagfile=flags/exp1_mlp_dnb.cfg"], "cannot read flagfile flags/exp1_mlp_dnb.cfg. The "),
]


@pytest.mark.parametrize("args,needle", BAD_ARGS)
def test_bad_flags_give_one_line_and_exit_2_and_write_nothing(tmp_path, args, needle):
    mnist = write_fake_mnist(tmp_path / "mnist")
    out = tmp_path / "run"
    proc = run_cli([*args, f"--mnist_dir={mnist}", f"--out_dir={out}"], cwd=tmp_path)
    assert needle in helpers.user_error(proc), proc.stderr[-2000:]
    assert not out.exists()


def test_mnist_dir_missing_a_file_names_it(tmp_path):
    mnist = write_fake_mnist(tmp_path / "mnist")
    os.remove(os.path.join(mnist, "t10k-labels-idx1-ubyte.gz"))
    proc = run_cli([f"--mnist_dir={mnist}", f"--out_dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "t10k-labels-idx1-ubyte.gz" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_a_run_in_training_elsewhere_is_one_line_and_exit_2_and_kept(tmp_path):
    mnist = write_fake_mnist(tmp_path / "mnist")
    out = tmp_path / "run"
    with run_directory.hold(str(out)):
        (out / "config.json").write_text("{}")
        proc = run_cli([f"--mnist_dir={mnist}", f"--out_dir={out}", "--overwrite"], cwd=tmp_path)
        assert (out / "config.json").read_text() == "{}"
    assert f"being trained by another process (pid {os.getpid()}" in helpers.user_error(proc)


# ------------------------------------------------------------------ interruption
def _long_cli_args(tmp_path, out):
    # 640 + 160 images / 16 = 50 steps per epoch; 4 epochs.
    mnist = tmp_path / "mnist_big"
    if not mnist.exists():
        write_fake_mnist(mnist, n_train=640, n_test=160)
    return [
        f"--mnist_dir={mnist}",
        f"--out_dir={out}",
        "--batch_size=16",
        "--epochs=4",
        "--critic_steps=2",
        "--critic_warmup_steps=3",
        "--critic_warmup_until=1",
        "--critic_warmup_every=1000",
        "--sample_every=60",  # step 60's grid, mid-epoch 2, tells the SIGINT test when
        "--steps_per_execution=5",  # several steps per call, as the MLP's default, 5 | 60
        "--notensorboard",
        "--progress=off",
        "--seed=3",
    ]


def _wait_for(predicate, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _checkpoint_step(run_dir):
    path = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    return None if path is None else int(path.rsplit("-", 1)[1])


def _final_generator_weights(run_dir):
    loaded = tf.saved_model.load(os.path.join(run_dir, "generator"))
    return sorted((v.name, v.numpy()) for v in loaded.variables)


def _start(args, cwd):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "train.py"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("straight")
    out = tmp / "run"
    proc = run_cli(_long_cli_args(tmp, out), cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return str(out)


def _assert_same_final_state(resumed_dir, straight_dir):
    import json

    meta = [
        json.loads(Path(d, "generator", "binarygan.json").read_text())
        for d in (resumed_dir, straight_dir)
    ]
    assert meta[0]["generator_step"] == meta[1]["generator_step"] == 200
    assert meta[0]["slope"] == pytest.approx(meta[1]["slope"]) == pytest.approx(1.1**3)
    # Same seed, same data order, restored optimizer and RNG states: on CPU the runs are the
    # same computation, so the weights agree to float32 round-off (1e-5 allows for oneDNN
    # choosing another reduction order after a restart; in practice they are identical).
    for (na, a), (nb, b) in zip(
        _final_generator_weights(resumed_dir), _final_generator_weights(straight_dir), strict=True
    ):
        assert na == nb
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=na)


def test_sigint_checkpoints_then_resume_matches_uninterrupted(tmp_path, uninterrupted):
    out = tmp_path / "run"
    proc = _start(_long_cli_args(tmp_path, out), tmp_path)
    # Mid-epoch 2 (an epoch is 50 steps): its step-60 grid is on disk.
    assert _wait_for(lambda: (out / "samples" / "step_000060.png").exists())
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    stopped_at = _checkpoint_step(str(out))
    assert stopped_at is not None and 60 <= stopped_at < 100  # saved mid-epoch, where it stopped
    assert not (out / "generator").exists()
    resumed = run_cli([*_long_cli_args(tmp_path, out), "--resume"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_same_final_state(str(out), uninterrupted)


def test_sigkill_keeps_last_checkpoint_and_resume_matches(tmp_path, uninterrupted):
    out = tmp_path / "run"
    proc = _start(_long_cli_args(tmp_path, out), tmp_path)
    assert _wait_for(lambda: _checkpoint_step(str(out)) is not None)
    time.sleep(0.3)
    proc.kill()
    proc.communicate(timeout=60)
    step = _checkpoint_step(str(out))
    assert step is not None and step % 50 == 0  # an epoch-end checkpoint, intact
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(out / "checkpoints")))
    assert reader.get_tensor("generator_step/.ATTRIBUTES/VARIABLE_VALUE") == step
    resumed = run_cli([*_long_cli_args(tmp_path, out), "--resume"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_same_final_state(str(out), uninterrupted)


# ------------------------------------------------------------------ numerical faults
@pytest.mark.parametrize(
    "per_call, message",
    # NaN from the 11th step on; at 3 per call epoch 2 (steps 9-16) runs calls ending 11, 14, 16
    [(1, "at generator step 11\\."), (3, r"by generator step 11 \(checked every 3 steps")],
)
def test_nan_stops_with_step_keeps_checkpoint_and_exports_nothing(
    tmp_path, monkeypatch, per_call, message
):
    original = objectives.WGANGPTrainer.gradient_penalty

    def poisoned(self, real, fake):
        gp = original(self, real, fake)
        return tf.where(self.generator_step >= 10, tf.constant(np.nan, tf.float32), gp)

    monkeypatch.setattr(objectives.WGANGPTrainer, "gradient_penalty", poisoned)
    config = tiny_config(tmp_path, epochs=3, steps_per_execution=per_call)
    with pytest.raises(TrainingFailed, match=message):
        train_lib.run_training(config, log=lambda *_: None)
    run = config.run_dir
    assert not os.path.exists(os.path.join(run, "generator"))
    assert _checkpoint_step(run) == 8  # the epoch-1 checkpoint; nothing after the NaN
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(run, "checkpoints")))
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if np.issubdtype(np.asarray(value).dtype, np.floating):
            assert np.all(np.isfinite(value)), name


# ------------------------------------------------------------------ atomic export
def test_failed_export_leaves_previous_generator_and_no_temp(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, max_steps=2)
    result = train_lib.run_training(config, log=lambda *_: None)
    before = sorted(os.listdir(result.generator_path))

    real_archive = export.keras.export.ExportArchive

    class CrashingArchive:
        """Writes the SavedModel, then fails, like a disk filling up at the last file."""

        def __init__(self):
            self._archive = real_archive()

        def __getattr__(self, name):
            return getattr(self._archive, name)

        def write_out(self, path, **kwargs):
            self._archive.write_out(path, **kwargs)
            raise OSError("disk full (simulated)")

    monkeypatch.setattr(export.keras.export, "ExportArchive", CrashingArchive)
    with pytest.raises(OSError):
        train_lib.export_from_checkpoint(train_lib.TrainConfig.load(config.run_dir))
    assert sorted(os.listdir(result.generator_path)) == before
    assert [n for n in os.listdir(config.run_dir) if n.startswith(".generator")] == []
    tf.saved_model.load(result.generator_path)  # still a whole SavedModel


def test_export_after_the_fact_from_checkpoint(tmp_path):
    config = tiny_config(tmp_path, max_steps=3)
    result = train_lib.run_training(config, log=lambda *_: None)
    import shutil

    shutil.rmtree(result.generator_path)
    ok = _export_cli(["--run_dir", config.run_dir], tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
    fn = tf.saved_model.load(result.generator_path).signatures["serving_default"]
    assert fn(z=tf.zeros((2, 128)))["samples"].shape == (2, 28, 28, 1)
    bad = _export_cli(["--run_dir", str(tmp_path / "nowhere")], tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def _export_cli(args, cwd):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "binarygan_tf", "export", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
