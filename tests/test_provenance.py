"""A run records the commit that trained it, and whether the code had uncommitted edits: an
edit to the code marks it, an edit to docs or published results (a page regenerated while a
run trains) does not."""

import subprocess

import pytest

from binarygan_tf import provenance


def _git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path):
    for path, text in {
        "binarygan_tf/model/trainer.py": "STEPS = 5\n",
        "flags/exp1.cfg": "--neuron=dbn\n",
        "train.py": "print()\n",
        "docs/results.md": "FD 15\n",
        "models/paper/README.md": "| run |\n",
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    _git("init", "-q", cwd=tmp_path)
    _git("add", ".", cwd=tmp_path)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start", cwd=tmp_path)
    return tmp_path


def test_edits_to_docs_and_results_are_not_code_changes(checkout):
    (checkout / "docs/results.md").write_text("FD 14\n")
    (checkout / "models/paper/README.md").write_text("| run | FD |\n")
    (checkout / "notes.txt").write_text("untracked\n")
    assert not provenance.has_code_changes(str(checkout / "binarygan_tf"))


@pytest.mark.parametrize("path", ["binarygan_tf/model/trainer.py", "flags/exp1.cfg", "train.py"])
def test_an_edit_to_the_code_is_a_code_change(checkout, path):
    (checkout / path).write_text("changed\n")
    assert provenance.has_code_changes(str(checkout / "binarygan_tf"))


def test_the_running_checkout_reports_its_commit():
    version = provenance.code_version()
    if version["git_commit"] is None:
        pytest.skip("not a git checkout")
    assert len(version["git_commit"]) == 40 and isinstance(version["git_dirty"], bool)
