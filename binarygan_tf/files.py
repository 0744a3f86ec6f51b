"""Small file-system helpers every writer of the project shares: write atomically, probe that
a folder is writable."""

import contextlib
import json
import os
import shutil
import tempfile


def _umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_directory(path):
    """Yield a temporary sibling folder to fill; on success it replaces `path` whole (the old
    folder is moved aside first, then removed), so a reader or a crash sees the old folder or
    the new one, never a half-written one. The folder gets the usual permissions (mkdtemp
    makes it owner-only)."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}-", dir=parent)
    try:
        yield tmp
        umask = _umask()
        for root, _dirs, names in os.walk(tmp):
            os.chmod(root, 0o777 & ~umask)
            for name in names:
                os.chmod(os.path.join(root, name), 0o666 & ~umask)
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}-old-", dir=parent)
            os.replace(path, os.path.join(old, "previous"))
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary sibling path to write; on success it is renamed over `path`, so a
    reader (or a kill) sees the old file or the new one, never half of it. `suffix` keeps an
    extension that a writer insists on (Keras' `.keras`)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it owner-only
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_file(path, mode="w"):
    """`open(path, mode)` for writing, atomically (see atomic_path), flushed to disk."""
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path, text):
    with atomic_file(path) as f:
        f.write(text)


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
