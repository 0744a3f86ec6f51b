"""The authors' checkout: where it is, whether it is usable, which commit, and the temporary
copy their code runs from.

Their `config.py` creates `exp/<model>/<name>/{checkpoints,samples,...}` folders beside itself
and copies the repository's sources into them when it is imported, and a shared checkout may
be read-only. So their code never runs from the checkout itself but from a throwaway copy
(`staged_copy`), whose files are made writable (a read-only checkout is copied with its
modes, and `os.makedirs` inside it would fail).
"""

import contextlib
import os
import re
import shutil
import stat
import tempfile

from binarygan_tf.errors import UserError

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The default checkout: ../shared/authors_code relative to this repository (PROVENANCE.md there).
DEFAULT_REPO = os.path.normpath(os.path.join(_REPO_ROOT, "..", "shared", "authors_code"))
# Files their train.py path imports; a checkout without them is not theirs.
REQUIRED_FILES = (
    "config.py",
    "bgan/model.py",
    "bgan/mnist/models.py",
    "bgan/mnist/components.py",
    "bgan/utils/neuralnet.py",
    "bgan/utils/ops.py",
    "bgan/utils/image_io.py",
    "bgan/mnist/presets/generator/mlp_round.py",
)
# Not needed to run, and .git may be large.
_SKIP = shutil.ignore_patterns(".git", "exp", "__pycache__", "*.pyc", "docs")


def resolve(path=None):
    """The absolute path of a usable checkout, or a UserError saying what is missing."""
    path = os.path.abspath(path or DEFAULT_REPO)
    if not os.path.isdir(path):
        raise UserError(
            f"--authors_repo {path} does not exist. Clone "
            f"https://github.com/salu133445/binarygan there or pass its path."
        )
    missing = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise UserError(
            f"--authors_repo {path} is not a checkout of salu133445/binarygan: "
            f"{', '.join(missing)} missing."
        )
    return path


def commit(path):
    """Their commit: from `.git` if the checkout has one (read directly, no git binary needed),
    else the first `commit \\`<hex>\\`` in PROVENANCE.md (our copy has no .git); None if neither."""
    head = os.path.join(path, ".git", "HEAD")
    if os.path.isfile(head):
        with open(head) as f:
            ref = f.read().strip()
        if not ref.startswith("ref:"):
            return ref
        ref = ref.split(":", 1)[1].strip()
        loose = os.path.join(path, ".git", ref)
        if os.path.isfile(loose):
            with open(loose) as f:
                return f.read().strip()
        packed = os.path.join(path, ".git", "packed-refs")
        if os.path.isfile(packed):
            with open(packed) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[1] == ref:
                        return parts[0]
    provenance = os.path.join(path, "PROVENANCE.md")
    if os.path.isfile(provenance):
        with open(provenance) as f:
            found = re.search(r"commit\s+`([0-9a-f]{7,40})`", f.read())
        if found:
            return found.group(1)
    return None


def _make_writable(root):
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, os.stat(dirpath).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        for name in filenames:
            p = os.path.join(dirpath, name)
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)


@contextlib.contextmanager
def staged_copy(path):
    """A writable temporary copy of the checkout at `path`, removed afterwards."""
    tmp = tempfile.mkdtemp(prefix="binarygan-authors-")
    try:
        copy = os.path.join(tmp, "binarygan")
        shutil.copytree(path, copy, ignore=_SKIP)
        _make_writable(copy)
        yield copy
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
