"""Small file-system helpers every writer of the project shares: write atomically, probe that
a folder is writable, find a run's latest checkpoint without importing TensorFlow."""

import json
import os
import re
import tempfile


def atomic_write_text(path, text):
    """Write `text` to `path` so that a reader (or a kill) sees the old file or the new one,
    never half of it: a temporary sibling is written, flushed and renamed over `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def probe_writable(directory, size=1 << 20):
    """Raise OSError now if `directory` cannot take a file of `size` bytes (read-only or full),
    instead of failing after an hour of training."""
    os.makedirs(directory, exist_ok=True)
    probe = os.path.join(directory, ".write_test")
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * size)
            f.flush()
            os.fsync(f.fileno())
    finally:
        if os.path.exists(probe):
            os.remove(probe)


CHECKPOINT_DIR = "checkpoints"


def latest_checkpoint_step(run_dir):
    """Generator step of the run's latest checkpoint, or None. Reads the `checkpoint` state
    file tf.train.CheckpointManager writes (`model_checkpoint_path: "ckpt-STEP"`), whose
    number is the generator step (train_lib saves with checkpoint_number=step)."""
    state = os.path.join(run_dir, CHECKPOINT_DIR, "checkpoint")
    if not os.path.isfile(state):
        return None
    with open(state) as f:
        match = re.search(r'^model_checkpoint_path:\s*"[^"]*?-(\d+)"', f.read(), re.M)
    return int(match.group(1)) if match else None


def checkpoint_step(prefix):
    """The generator step in a checkpoint prefix such as RUN/checkpoints/ckpt-2186."""
    return int(prefix.rsplit("-", 1)[1])
