"""The command line's manners: Ctrl-C is one line at any moment, TensorFlow's start-up log
stays hidden, the `binarygan` dispatcher routes to the same commands as the scripts."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, write_fake_mnist

ENV = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "0"}


@pytest.mark.slow
def test_ctrl_c_during_start_up_is_one_line(tmp_path):
    mnist = write_fake_mnist(tmp_path / "mnist")
    proc = subprocess.Popen(
        [
            sys.executable,
            os.path.join(ROOT, "train.py"),
            f"--mnist_dir={mnist}",
            f"--out_dir={tmp_path / 'run'}",
            "--batch_size=16",
            "--progress=off",
        ],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupt while TensorFlow loads (seconds; the flags are parsed by then): wait until
    # its shared library is mapped into the process, whatever the machine's load.
    maps = f"/proc/{proc.pid}/maps"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        with open(maps) as f:
            if "tensorflow" in f.read():
                break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    assert err.strip().splitlines() == ["interrupted (Ctrl-C)."], err[-3000:]


@pytest.mark.slow
def test_user_error_after_tensorflow_loads_has_no_start_up_log(tmp_path):
    """A missing export checkpoint is found after TensorFlow is imported: still one line."""
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), f"--mnist_dir={tmp_path / 'none'}"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "none" in lines[0], lines


def test_binarygan_dispatcher_lists_commands_and_refuses_unknown_ones():
    ok = subprocess.run(
        [sys.executable, "-m", "binarygan_tf", "--help"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert ok.returncode == 0
    for name in ("train", "evaluate", "reproduce", "sample", "export"):
        assert f"  {name} " in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "binarygan_tf", "trian"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert bad.returncode == 2 and "unknown command 'trian'" in bad.stderr
    sub = subprocess.run(
        [sys.executable, "-m", "binarygan_tf", "train", "--help"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert sub.returncode == 0 and "--neuron={dbn,sbn,real}" in sub.stdout
