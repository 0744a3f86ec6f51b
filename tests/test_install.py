"""The package as a user installs it: build the wheel, install it into a fresh virtualenv,
run the installed `binarygan` command from a folder that is not the checkout."""

import glob
import os
import site
import subprocess
import sys

import pytest

from tests.helpers import ROOT, write_fake_mnist

pytestmark = pytest.mark.slow

# Variables through which the caller's environment could reach into the new virtualenv: a
# PYTHONPATH naming the checkout, another Python's home or startup file, an activated venv,
# user site-packages, pip settings that pick another index or target.
_FOREIGN = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV")


def _clean_env():
    """This process's environment without anything that could make the installed venv import
    the checkout (every subprocess here runs with it)."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN and not k.startswith("PIP_")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    wheels = tmp / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            ROOT,
        ],
        check=True,
        capture_output=True,
        timeout=600,
        env=_clean_env(),
    )
    venv = tmp / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], check=True, timeout=600, env=_clean_env()
    )
    python = venv / "bin" / "python"
    # The project from its wheel only; its dependencies (TensorFlow & co., hundreds of MB)
    # are borrowed from this interpreter's site-packages through a plain path entry, which
    # does not run that folder's .pth files, so the checkout's editable install stays out.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
        env=_clean_env(),
    )
    with open(os.path.join(purelib.stdout.strip(), "borrowed_deps.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    wheel = glob.glob(str(wheels / "binarygan_tf-*.whl"))[0]
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", wheel],
        check=True,
        capture_output=True,
        timeout=600,
        env=_clean_env(),
    )
    return venv


def _run(venv, args, cwd):
    return subprocess.run(
        [str(venv / "bin" / "binarygan"), *args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_installed_package_is_the_wheel_not_the_checkout(installed, tmp_path):
    out = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "import binarygan_tf; print(binarygan_tf.__file__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env=_clean_env(),
    )
    assert out.stdout.startswith(str(installed)), out.stdout


def test_installed_command_lists_subcommands_and_experiments(installed, tmp_path):
    top = _run(installed, ["--help"], tmp_path)
    assert top.returncode == 0 and "sample" in top.stdout and "reproduce" in top.stdout
    train = _run(installed, ["train", "--help"], tmp_path)
    assert train.returncode == 0
    assert "exp1_mlp_dbn" in train.stdout and "exp4_cnn_sbn" in train.stdout  # shipped flagfiles


def test_installed_command_trains_an_experiment_and_samples_it(installed, tmp_path):
    mnist = write_fake_mnist(tmp_path / "mnist")
    out = tmp_path / "run"
    trained = _run(
        installed,
        [
            "train",
            "--experiment=exp1_mlp_sbn",
            f"--mnist_dir={mnist}",
            f"--out_dir={out}",
            "--batch_size=16",
            "--max_steps=2",
            "--critic_warmup_until=0",
            "--critic_steps=1",
            "--notensorboard",
        ],
        tmp_path,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert '"neuron": "sbn"' in (out / "config.json").read_text()
    grids = [
        _run(
            installed,
            [
                "sample",
                f"--generator={out / 'generator'}",
                "--num=16",
                "--seed=3",
                f"--out={tmp_path / name}",
            ],
            tmp_path,
        )
        for name in ("a.npy", "b.npy")
    ]
    assert all(g.returncode == 0 for g in grids), grids[0].stderr[-3000:]
    import numpy as np

    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (16, 28, 28, 1) and np.array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, 1.0}
