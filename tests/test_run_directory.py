"""The run directory (binarygan_tf/training/run_directory.py): its names, the lock, starting a
training session in it, the stored config and its resume history, the timing record, and the
two checkpoint failures a long run meets (a damaged newest checkpoint, a full disk)."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from binarygan_tf import files
from binarygan_tf.errors import UserError
from binarygan_tf.training import config as config_lib
from binarygan_tf.training import run_directory
from binarygan_tf.training.run_directory import RunLocked
from tests import helpers
from tests.helpers import ROOT, STEPS_PER_EPOCH, run_script, tiny_config

QUIET = lambda *_: None  # noqa: E731 - a log that drops its lines


# ------------------------------------------------------------------ layout and naming
def test_default_run_dirs_name_the_model():
    def train(**kw):
        return config_lib.TrainConfig(**kw).run_dir

    assert train() == os.path.join("runs", "mlp_dbn_wgan-gp")
    assert train(arch="cnn", neuron="sbn", objective="gan", follow="paper") == os.path.join(
        "runs", "cnn_sbn_gan_paper"
    )
    assert train(out_dir="elsewhere") == "elsewhere"
    from binarygan_tf.authors.compare import CompareConfig

    assert CompareConfig(neuron="real").run_dir == os.path.join("runs", "authors_mlp_real_wgan-gp")


def test_the_timing_record_has_one_name_in_run_dirs_and_published_folders():
    from binarygan_tf.reproduction import publishing

    assert run_directory.TIMING_FILE == publishing.TIMING_FILE == "timing.json"


def test_an_older_runs_timing_is_read_and_carried_over(tmp_path):
    run = str(tmp_path)
    files.atomic_write_json(
        os.path.join(run, run_directory.LEGACY_TIMING_FILE), {"wall_seconds": 40.0, "sessions": 2}
    )
    assert run_directory.read_timing(run) == {"wall_seconds": 40.0, "sessions": 2}
    run_directory.begin_session(run)
    run_directory.end_session(run, 2.5)
    assert sorted(os.listdir(run)) == [run_directory.TIMING_FILE]  # the old file replaced
    timing = run_directory.read_timing(run)
    assert (timing["wall_seconds"], timing["sessions"]) == (42.5, 3)
    assert "open_session" not in timing


# ------------------------------------------------------------------ the lock
HOLDER = """
import sys, time
from binarygan_tf.training import run_directory
with run_directory.hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def _start_holder(run_dir):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_is_refused_with_the_first_named_until_it_releases(tmp_path):
    run = tmp_path / "run"
    with run_directory.hold(str(run)):
        with (
            pytest.raises(RunLocked, match=f"pid {os.getpid()} on ") as refused,
            run_directory.hold(str(run)),
        ):
            pass
        assert "--out_dir" in str(refused.value)
    with run_directory.hold(str(run)):  # released: free again
        pass
    assert run_directory.entries(str(run)) == []


@pytest.mark.slow  # starts a process
def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    run = tmp_path / "run"
    proc = _start_holder(run)
    try:
        with pytest.raises(RunLocked, match=f"pid {proc.pid} on "), run_directory.hold(str(run)):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with run_directory.hold(str(run)):  # the kernel dropped the dead holder's lock
        pass


def test_empty_keeps_only_the_held_lock_and_a_lock_alone_is_no_run(tmp_path):
    run = tmp_path / "run"
    with run_directory.hold(str(run)):
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "ckpt-1.index").write_text("x")
        (run / "config.json").write_text("{}")
        assert run_directory.entries(str(run)) == ["checkpoints", "config.json"]
        run_directory.empty(str(run))
        assert os.listdir(run) == [run_directory.LOCK_FILE]
    # a directory holding only the lock file (a run stopped before writing anything) takes
    # a new run without --overwrite
    config = tiny_config(tmp_path)
    assert config_lib.check_against_run_dir(config)[0].run_dir == str(run)


@pytest.mark.slow  # starts a process
def test_overwrite_of_a_run_in_training_is_refused_and_deletes_nothing(tmp_path):
    from binarygan_tf.training import train_lib

    config = tiny_config(tmp_path, overwrite=True)
    os.makedirs(config.run_dir)
    kept = os.path.join(config.run_dir, run_directory.CONFIG_FILE)
    with open(kept, "w") as f:
        f.write("{}")
    proc = _start_holder(config.run_dir)
    try:
        with pytest.raises(RunLocked, match="being trained by another process"):
            train_lib.run_training(config, log=QUIET)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert os.path.isfile(kept)


# ------------------------------------------------------------------ a training session
def test_a_session_holds_probes_and_times_the_folder(tmp_path):
    run = str(tmp_path / "run")
    with run_directory.training_session(run) as session:
        # held: a second trainer is refused; the session is open in the timing record
        with pytest.raises(RunLocked), run_directory.hold(run):
            pass
        assert run_directory.read_timing(run)["open_session"]["started"] <= session.started
        assert sorted(os.listdir(run)) == sorted(
            [run_directory.LOCK_FILE, run_directory.TIMING_FILE]
        )
    timing = run_directory.read_timing(run)
    assert timing["sessions"] == 1 and "open_session" not in timing
    assert 0 <= timing["wall_seconds"] < 60
    # a session that says how long it took counts that, once
    with run_directory.training_session(run, resume=False, overwrite=True) as session:
        session.end(10.0)
    assert run_directory.read_timing(run)["sessions"] == 1  # overwrite: a new run's record
    assert run_directory.read_timing(run)["wall_seconds"] == 10.0


def test_a_run_that_appears_before_the_lock_is_taken_is_not_trained_over(tmp_path):
    """The check before loading data passes on an empty folder; another process then finishes
    a run there; the check inside the lock must see it and write nothing."""
    run = tmp_path / "run"
    run_directory.check_start(str(run))  # the early, read-only check: nothing there yet
    run.mkdir()
    (run / "config.json").write_text('{"seed": 7}')
    with pytest.raises(UserError) as refused, run_directory.training_session(str(run)):
        pytest.fail("the block must not run")
    message = str(refused.value)
    assert "already holds a run" in message and "--overwrite" in message
    assert "\n" not in message
    assert sorted(os.listdir(run)) == ["config.json", run_directory.LOCK_FILE]
    assert (run / "config.json").read_text() == '{"seed": 7}'


def test_overwrite_empties_and_resume_needs_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    with (
        pytest.raises(UserError, match="no checkpoint to resume from"),
        run_directory.training_session(str(run), resume=True),
    ):
        pass
    assert (run / "config.json").exists()  # a refused resume writes and deletes nothing
    assert not (run / run_directory.TIMING_FILE).exists()
    with run_directory.training_session(str(run), overwrite=True):
        assert sorted(os.listdir(run)) == sorted(
            [run_directory.LOCK_FILE, run_directory.TIMING_FILE]
        )


def test_a_session_that_raises_stays_open_for_the_next_to_count(tmp_path):
    run = str(tmp_path / "run")
    with pytest.raises(RuntimeError), run_directory.training_session(run):
        raise RuntimeError("killed")
    assert "open_session" in run_directory.read_timing(run)
    assert run_directory.read_timing(run)["sessions"] == 0


def test_unwritable_output_is_one_line_before_anything_is_trained(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with (
        pytest.raises(UserError, match="cannot write to .*Choose a writable --out_dir"),
        run_directory.training_session(str(blocker / "run")),
    ):
        pytest.fail("the block must not run")
    from binarygan_tf.training import train_lib  # and so does a training of it, at once

    with pytest.raises(UserError, match="cannot write"):
        train_lib.run_training(tiny_config(tmp_path, out_dir=str(blocker / "run")), QUIET)


def test_a_full_disk_fails_the_probe_and_leaves_no_probe_file(tmp_path, monkeypatch):
    run = tmp_path / "run"
    real_open = open

    def full(path, mode="r", *args, **kwargs):
        if str(path).endswith(".write_test"):
            f = real_open(path, mode, *args, **kwargs)
            f.close()
            raise OSError(28, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full)
    with (
        pytest.raises(UserError, match="No space left on device"),
        run_directory.training_session(str(run)),
    ):
        pytest.fail("the block must not run")
    monkeypatch.undo()
    assert os.listdir(run) == [run_directory.LOCK_FILE]


# ------------------------------------------------------------------ the stored config
def test_config_json_keeps_the_starting_code_and_a_history_of_resumes(tmp_path):
    run = str(tmp_path)
    first = {"git_commit": "aaa", "git_dirty": False, "tensorflow": "2.x"}
    later = {"git_commit": "bbb", "git_dirty": True, "tensorflow": "2.y"}
    run_directory.record_config(run, {"epochs": 20, "seed": 1}, first)
    run_directory.record_config(
        run, {"epochs": 30, "seed": 1}, later, resumed_at=2186, changes={"epochs": (20, 30)}
    )
    stored = run_directory.read_stored(run)
    assert stored["epochs"] == 30 and stored["git_commit"] == "aaa"
    assert stored["git_dirty"] is False and stored["tensorflow"] == "2.y"
    assert stored["resumes"] == [{"generator_step": 2186, **later, "changed": {"epochs": [20, 30]}}]


def test_config_json_is_written_atomically(tmp_path, monkeypatch):
    run = str(tmp_path)
    run_directory.write_stored(run, {"seed": 1})

    def crash(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)  # dies before the new file takes the name
    with pytest.raises(OSError):
        run_directory.write_stored(run, {"seed": 2})
    monkeypatch.undo()
    assert run_directory.read_stored(run) == {"seed": 1}
    assert os.listdir(run) == [run_directory.CONFIG_FILE]  # no temporary left either


def test_a_missing_or_unreadable_config_is_one_line(tmp_path):
    with pytest.raises(UserError, match="is not a run directory: it has no config.json"):
        run_directory.read_stored(str(tmp_path))
    (tmp_path / "config.json").write_text('{"seed": ')
    with pytest.raises(UserError, match="cannot be read") as e:
        run_directory.read_stored(str(tmp_path))
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------ checkpoints
def test_latest_checkpoint_step_and_the_files_of_a_checkpoint(tmp_path):
    folder = tmp_path / run_directory.CHECKPOINT_DIR
    folder.mkdir()
    assert run_directory.latest_checkpoint_step(str(tmp_path)) is None
    (folder / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-16"\nall_model_checkpoint_paths: "ckpt-8"\n'
        'all_model_checkpoint_paths: "ckpt-16"\n'
    )
    assert run_directory.latest_checkpoint_step(str(tmp_path)) == 16
    assert run_directory.checkpoint_step(str(folder / "ckpt-2186")) == 2186
    for name in ("ckpt-16.index", "ckpt-16.data-00000-of-00001", "ckpt-160.index"):
        (folder / name).write_bytes(b"x" * 1000)
    (folder / "ckpt-24_temp").mkdir()
    (folder / "ckpt-24_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"y" * 10)
    (folder / "ckpt-24.index").write_bytes(b"z")
    assert run_directory.checkpoint_bytes(str(folder / "ckpt-16")) == 2000
    run_directory.remove_checkpoint_files(str(folder / "ckpt-24"))
    assert sorted(os.listdir(folder)) == [
        "checkpoint",
        "ckpt-16.data-00000-of-00001",
        "ckpt-16.index",
        "ckpt-160.index",
    ]


def test_a_checkpoint_not_written_is_one_line_naming_folder_and_size(tmp_path):
    error = run_directory.checkpoint_not_written(
        str(tmp_path), 20, OSError(28, "No space left on device"), 3 * 2**20, "RUN/ckpt-10"
    )
    message = str(error)
    assert isinstance(error, UserError) and "\n" not in message
    assert f"to {tmp_path / 'checkpoints'}: the disk is full" in message
    assert "needs 3.0 MiB" in message and "RUN/ckpt-10, is kept" in message
    assert f"--resume --out_dir={tmp_path}" in message


# ------------------------------------------------------------------ starting a run (trains)
@pytest.mark.slow
def test_existing_run_is_not_overwritten(tmp_path):
    from binarygan_tf.training import train_lib

    train_lib.run_training(tiny_config(tmp_path, max_steps=2), log=QUIET)
    with pytest.raises(UserError, match="already holds a run"):
        train_lib.run_training(tiny_config(tmp_path, max_steps=2), log=QUIET)
    again = train_lib.run_training(tiny_config(tmp_path, max_steps=3, overwrite=True), log=QUIET)
    assert again.generator_step == 3
    stored = run_directory.read_stored(again.run_dir)
    assert stored["max_steps"] == 3 and "resumes" not in stored
    assert run_directory.read_timing(again.run_dir)["sessions"] == 1


def test_resume_without_checkpoint_is_a_user_error(tmp_path):
    from binarygan_tf.training import train_lib

    with pytest.raises(UserError, match="no checkpoint"):
        train_lib.run_training(tiny_config(tmp_path, resume=True), log=QUIET)


# ------------------------------------------------------------------ checkpoint failures
def _generator_weights(run_dir):
    import tensorflow as tf

    loaded = tf.saved_model.load(os.path.join(run_dir, run_directory.GENERATOR_DIR))
    return {v.name: v.numpy() for v in loaded.variables}


def _checkpoint_names(run_dir):
    return sorted(os.listdir(os.path.join(run_dir, run_directory.CHECKPOINT_DIR)))


@pytest.mark.slow
def test_a_damaged_newest_checkpoint_is_skipped_and_the_resume_stays_exact(tmp_path):
    from binarygan_tf.training import train_lib

    straight = train_lib.run_training(tiny_config(tmp_path, out_dir=str(tmp_path / "a")), QUIET)
    config = tiny_config(tmp_path, out_dir=str(tmp_path / "b"), max_steps=6, checkpoint_every=2)
    train_lib.run_training(config, QUIET)
    run = config.run_dir
    checkpoints = os.path.join(run, run_directory.CHECKPOINT_DIR)
    # a disk error (or a copy cut short) truncated the newest one
    open(os.path.join(checkpoints, "ckpt-6.data-00000-of-00001"), "w").close()
    lines = []
    resumed = train_lib.run_training(
        tiny_config(tmp_path, out_dir=run, resume=True, checkpoint_every=2), lines.append
    )
    skipped = [line for line in lines if line.startswith("skipped")]
    assert skipped == [
        f"skipped checkpoint {checkpoints}/ckpt-6, which does not read back (IndexError: "
        f"Read less bytes than requested); using {checkpoints}/ckpt-4, the newest that does"
    ]
    assert any(line.startswith(f"resumed {run} at generator step 4,") for line in lines)
    assert run_directory.read_stored(run)["resumes"][0]["generator_step"] == 4
    # from step 4 the run is the same computation as the uninterrupted one
    assert resumed.generator_step == straight.generator_step == 2 * STEPS_PER_EPOCH
    a, b = _generator_weights(straight.run_dir), _generator_weights(run)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-6, err_msg=name)

    # none reads back: `train.py --resume` refuses with one line, status 2
    for name in _checkpoint_names(run):
        if ".data-" in name:
            open(os.path.join(checkpoints, name), "w").close()
    proc = run_script("train.py", ["--resume", f"--out_dir={run}"], cwd=tmp_path)
    assert [helpers.user_error(proc)] == [
        f"error: checkpoint {checkpoints}/ckpt-16 does not read back (IndexError: Read less "
        f"bytes than requested) nor the 2 before it; the run cannot continue. Start it afresh "
        f"with --overwrite, or put back a copy of {checkpoints}."
    ]


# train.py as a user runs it, with the checkpoint of generator step 4 hitting a full disk
# after its shards were partly written (TensorFlow raises ResourceExhaustedError on ENOSPC).
FULL_DISK = textwrap.dedent("""
    import os, sys
    import tensorflow as tf
    real_write = tf.train.Checkpoint._write

    def write(self, prefix, *args, **kwargs):
        if prefix.endswith("ckpt-4"):
            os.makedirs(prefix + "_temp")
            with open(os.path.join(prefix + "_temp", "part-00000-of-00001.data-00000-of-00001"),
                      "wb") as f:
                f.write(b"\\0" * 4096)
            with open(prefix + ".index", "wb") as f:
                f.write(b"\\0" * 10)
            raise tf.errors.ResourceExhaustedError(
                None, None, prefix + "_temp/part-00000-of-00001.data-00000-of-00001; "
                "No space left on device")
        return real_write(self, prefix, *args, **kwargs)

    tf.train.Checkpoint._write = write
    from binarygan_tf.commands import run_subcommand
    run_subcommand("train", ["train.py", *sys.argv[1:]])
""")


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_is_one_line_cleans_up_and_resumes(tmp_path):
    from binarygan_tf.training import train_lib

    config = tiny_config(tmp_path, checkpoint_every=2)
    run = config.run_dir
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK)
    args = [
        f"--mnist_dir={config.mnist_dir}",
        f"--out_dir={run}",
        "--batch_size=16",
        "--epochs=2",
        "--critic_steps=1",
        "--critic_warmup_steps=2",
        "--critic_warmup_until=1",
        "--critic_warmup_every=1000",
        "--sample_every=5",
        "--checkpoint_every=2",
        "--steps_per_execution=1",  # a checkpoint at step 4, not at the end of a call
        "--notensorboard",
        "--progress=off",
        "--seed=1",
    ]
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    error = helpers.user_error(proc)
    checkpoints = os.path.join(run, run_directory.CHECKPOINT_DIR)
    assert error.startswith(
        f"error: cannot write the checkpoint of generator step 4 to {checkpoints}: the disk is "
        f"full (a checkpoint of this run needs "
    )
    needed = float(error.split("needs ")[1].split(" MiB")[0])
    assert needed > 0.05  # the tiny MLP's weights and optimizer slots: about 3 MiB
    assert error.endswith(
        f"MiB there). The partial files were removed and the last checkpoint, "
        f"{checkpoints}/ckpt-2, is kept; free some space, then continue with --resume "
        f"--out_dir={run}."
    )
    # the partial files are gone, and the state file still names the previous checkpoint
    assert _checkpoint_names(run) == [
        "checkpoint",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
    ]
    assert run_directory.latest_checkpoint_step(run) == 2
    assert not os.path.exists(os.path.join(run, run_directory.GENERATOR_DIR))
    # space freed: the run resumes from it to the end
    resumed = train_lib.run_training(tiny_config(tmp_path, resume=True), QUIET)
    assert resumed.status == "completed" and resumed.generator_step == 2 * STEPS_PER_EPOCH
    assert run_directory.read_stored(run)["resumes"][0]["generator_step"] == 2
    # the cut-off session counted up to its last checkpoint, the resumed one in full
    timing = run_directory.read_timing(run)
    assert timing["sessions"] == 2 and timing["cut_sessions"] == 1
    assert "open_session" not in timing
