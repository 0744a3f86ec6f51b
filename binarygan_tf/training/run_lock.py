"""One trainer per run directory at a time.

Two processes training the same run directory would interleave their checkpoints and logs and
leave a run that is neither one's, and `--overwrite` (or the reproduction starting a run
afresh) would delete a run another process is in the middle of. That happens in practice: a
job array resubmitted while its first attempt still runs, two shells started on the same
`--out_dir`, a second `reproduce.py` beside a first. So whoever trains holds an exclusive
`fcntl.flock` on the run's lock file for as long as it trains.

flock, not a "pid file": the kernel drops the lock when the holder dies however it dies
(SIGKILL, a machine cut off), so a dead trainer never leaves a stale lock to clean up. The
file itself stays (deleting it would let a second process lock a new file while the first
still holds the old one); while held it names its holder for the error message. Where flock
is missing (Windows) runs are not locked.
"""

import contextlib
import json
import os
import shutil
import socket
import time

from binarygan_tf.errors import UserError, unwritable_output
from binarygan_tf.training import run_layout

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None


class RunLocked(UserError):
    """Another live process is training this run directory."""

    def __init__(self, run_dir, holder):
        self.run_dir = run_dir
        self.holder = holder
        super().__init__(
            f"{run_dir} is being trained by another process ({holder}). Wait for it to "
            f"finish (or stop it), or choose another --out_dir."
        )


def _describe(record):
    if not record:
        return "holder unknown"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.get("since", 0)))
    return f"pid {record.get('pid')} on {record.get('host')}, since {since}"


def _read(fd):
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "null")
    except ValueError:
        return None


@contextlib.contextmanager
def hold(run_dir):
    """Hold the run directory (creating it) for the block; RunLocked if another process does.

    Inside the block, `empty(run_dir)` is the safe way to start the run afresh."""
    try:
        os.makedirs(run_dir, exist_ok=True)
        fd = os.open(os.path.join(run_dir, run_layout.LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise unwritable_output(run_dir, e) from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunLocked(run_dir, _describe(_read(fd))) from None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        yield
        os.ftruncate(fd, 0)  # released: nobody to name
    finally:
        os.close(fd)  # closing drops the flock


def entries(run_dir):
    """The run directory's entries but the lock file ([] if it does not exist): what decides
    whether a directory already holds a run."""
    if not os.path.isdir(run_dir):
        return []
    return sorted(n for n in os.listdir(run_dir) if n != run_layout.LOCK_FILE)


def empty(run_dir):
    """Delete everything in a held run directory but its lock file (`--overwrite`)."""
    for name in entries(run_dir):
        path = os.path.join(run_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
