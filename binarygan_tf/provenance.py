"""Which code trained a run: the git commit of the checkout, recorded in config.json and in
the exported generator's metadata, so a published number can be traced to the code that made
it (and rerun when a later fix changes what training computes)."""

import functools
import os
import subprocess

import keras
import tensorflow as tf

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# What a run's training executes, relative to the checkout's top: an edit here makes the
# recorded commit an incomplete description of the run. Edits elsewhere (docs/, models/, a
# results page written while a run trains) do not, so they do not mark a run "dirty".
CODE_PATHS = ("binarygan_tf", "flags", "*.py", "pyproject.toml", "requirements.txt")


def _git(args, cwd):
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=10
    ).stdout


def has_code_changes(checkout):
    """Whether tracked files under CODE_PATHS of the git checkout `checkout` differ from HEAD."""
    top = _git(["rev-parse", "--show-toplevel"], checkout).strip()
    status = _git(["status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS], top)
    return bool(status.strip())


@functools.cache
def code_version():
    """{"git_commit", "git_dirty", "tensorflow", "keras"}; the git fields are None outside a
    git checkout (an installed wheel). `git_dirty`: the code had uncommitted edits
    (`has_code_changes`)."""
    commit = dirty = None
    try:
        commit = _git(["rev-parse", "HEAD"], _PACKAGE_DIR).strip()
        dirty = has_code_changes(_PACKAGE_DIR)
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
