"""One trainer per run directory (binarygan_tf/training/run_directory.py): a second trainer is refused with
its holder named, nothing of the held run is deleted, and a killed holder frees the run."""

import os
import signal
import subprocess
import sys

import pytest

from binarygan_tf.training import config as config_lib
from binarygan_tf.training import run_directory, train_lib
from binarygan_tf.training.run_directory import RunLocked
from tests.helpers import ROOT, tiny_config

HOLDER = """
import sys, time
from binarygan_tf.training import run_directory
with run_directory.hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def _start_holder(run_dir):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_is_refused_with_the_first_named_until_it_releases(tmp_path):
    run = tmp_path / "run"
    with run_directory.hold(str(run)):
        with (
            pytest.raises(RunLocked, match=f"pid {os.getpid()} on ") as refused,
            run_directory.hold(str(run)),
        ):
            pass
        assert "--out_dir" in str(refused.value)
    with run_directory.hold(str(run)):  # released: free again
        pass
    assert run_directory.entries(str(run)) == []


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    run = tmp_path / "run"
    proc = _start_holder(run)
    try:
        with pytest.raises(RunLocked, match=f"pid {proc.pid} on "), run_directory.hold(str(run)):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with run_directory.hold(str(run)):  # the kernel dropped the dead holder's lock
        pass


def test_empty_keeps_only_the_held_lock_and_a_lock_alone_is_no_run(tmp_path):
    run = tmp_path / "run"
    with run_directory.hold(str(run)):
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "ckpt-1.index").write_text("x")
        (run / "config.json").write_text("{}")
        assert run_directory.entries(str(run)) == ["checkpoints", "config.json"]
        run_directory.empty(str(run))
        assert os.listdir(run) == [run_directory.LOCK_FILE]
    # a directory holding only the lock file (a run stopped before writing anything) takes
    # a new run without --overwrite
    config = tiny_config(tmp_path)
    assert config_lib.check_against_run_dir(config)[0].run_dir == str(run)


def test_overwrite_of_a_run_in_training_is_refused_and_deletes_nothing(tmp_path):
    config = tiny_config(tmp_path, overwrite=True)
    os.makedirs(config.run_dir)
    kept = os.path.join(config.run_dir, run_directory.CONFIG_FILE)
    with open(kept, "w") as f:
        f.write("{}")
    proc = _start_holder(config.run_dir)
    try:
        with pytest.raises(RunLocked, match="being trained by another process"):
            train_lib.run_training(config, log=lambda *_: None)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert os.path.isfile(kept)
