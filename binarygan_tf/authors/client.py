"""Starting the authors'-code worker from our process, and reading its answer.

Our process has imported TensorFlow with Keras 3; their code needs `TF_USE_LEGACY_KERAS=1`
before TensorFlow is imported. So each request runs `python -m binarygan_tf.authors.worker`
in a fresh interpreter (the same Python as ours), with the environment variable set and this
repository importable, and answers through a JSON result file.
"""

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

from binarygan_tf.errors import UserError

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = "binarygan_tf.authors.worker"
# What the worker imports besides TensorFlow: pyproject's optional extra [authors].
REQUIRED_PACKAGES = {"tf_keras": "tf-keras", "imageio": "imageio"}


def missing_packages():
    """The pip names of the worker's packages not installed in this Python."""
    return [
        pip for module, pip in REQUIRED_PACKAGES.items() if importlib.util.find_spec(module) is None
    ]


def check_packages():
    missing = missing_packages()
    if missing:
        raise UserError(
            f"running the authors' code needs {' and '.join(missing)}: "
            f"pip install 'binarygan-tf[authors]' (or pip install "
            f"{' '.join(missing)}; tf-keras matching your TensorFlow version)."
        )


def worker_env():
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO_ROOT, env.get("PYTHONPATH")) if p)
    return env


def worker_command(request_path):
    return [sys.executable, "-m", WORKER, request_path]


def start(request, workdir, stdout=None, stderr=None):
    """Write `request` (a dict; its `result_path` is set here) to `workdir` and start a worker
    on it, in its own session so a terminal's Ctrl-C reaches only us (`run` forwards it).
    Returns (Popen, result_path)."""
    result_path = os.path.join(workdir, f"{request['command']}_result.json")
    if os.path.exists(result_path):
        os.remove(result_path)
    request = dict(request, result_path=result_path)
    request_path = os.path.join(workdir, f"{request['command']}_request.json")
    with open(request_path, "w") as f:
        json.dump(request, f, indent=2)
    proc = subprocess.Popen(
        worker_command(request_path),
        env=worker_env(),
        stdout=stdout,
        stderr=stderr,
        cwd=workdir,
        start_new_session=True,
    )
    return proc, result_path


def finish(proc, result_path, timeout=None, log_path=None):
    """Wait for the worker; its result dict. A worker that died without a result, or answered
    with an error, raises UserError (with the tail of its log when there is one)."""
    try:
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise UserError(
            f"the authors'-code worker did not finish within {timeout:.0f} s; stopped it."
        ) from None
    if not os.path.isfile(result_path):
        tail = ""
        if log_path and os.path.isfile(log_path):
            with open(log_path, errors="replace") as f:
                tail = "\n" + "".join(f.readlines()[-25:])
        raise UserError(
            f"the authors'-code worker exited with status {returncode} and no result.{tail}"
        )
    with open(result_path) as f:
        result = json.load(f)
    if result.get("status") == "error":
        raise UserError(result["message"])
    return result


def run(request, workdir, timeout=None, quiet=False):
    """Run one request to completion in `workdir`; the result dict. With `quiet` the worker's
    output goes to `workdir/<command>.log` (its tail is shown if it fails), else to ours.

    SIGINT and SIGTERM received meanwhile are passed to the worker, which finishes its
    generator step, checkpoints and answers "interrupted" (a second Ctrl-C stops it at once)."""
    check_packages()
    os.makedirs(workdir, exist_ok=True)
    log_path = os.path.join(workdir, f"{request['command']}.log") if quiet else None
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(log_path, "w")) if log_path else None
        proc, result_path = start(
            request, workdir, stdout=log, stderr=subprocess.STDOUT if log else None
        )

        def forward(signum, frame):
            if proc.poll() is None:
                proc.send_signal(signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous = signal.signal(sig, forward)
            except ValueError:  # not the main thread: signals stay where they are
                continue
            stack.callback(signal.signal, sig, previous)
        return finish(proc, result_path, timeout=timeout, log_path=log_path)


def wait_for_file(proc, path, timeout, poll=0.2):
    """Block until `path` exists (a worker writes its files atomically) or the worker dies."""
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise RuntimeError(
                f"the authors'-code worker exited ({proc.returncode}) before writing {path}"
            )
        if time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"the authors'-code worker wrote no {path} within {timeout} s")
        time.sleep(poll)
