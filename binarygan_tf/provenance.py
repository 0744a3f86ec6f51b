"""Which code trained a run: the git commit of the checkout, recorded in config.json and in
the exported generator's metadata, so a published number can be traced to the code that made
it (and rerun when a later fix changes what training computes)."""

import functools
import os
import subprocess

import keras
import tensorflow as tf

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@functools.cache
def code_version():
    """{"git_commit", "git_dirty", "tensorflow", "keras"}; the git fields are None outside a
    git checkout (an installed wheel)."""
    commit = dirty = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=_PACKAGE_DIR,
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=_PACKAGE_DIR,
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        dirty = bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
