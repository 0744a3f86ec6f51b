"""publishing.py: a finished run published to models/<profile>/<run>/ (end to end, smoke
profile), and what it reads back from a run directory: its state, sessions, time and losses."""

import os
import re
import subprocess
import sys

import pytest

from binarygan_tf.errors import UserError
from binarygan_tf.reproduction import experiments, publishing
from binarygan_tf.training import run_directory
from tests import helpers


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """helpers.smoke_merged: the shards' runs merged and the page built from them."""
    return helpers.smoke_merged(tmp_path_factory)


@pytest.mark.slow
def test_published_run_holds_generator_config_timing_and_metrics(merged):
    tmp_path, _, _ = merged
    published = tmp_path / "merged" / "smoke" / "exp1_mlp_dbn_seed1"
    assert (published / "generator" / "saved_model.pb").is_file()
    metadata = run_directory.generator_metadata(str(published / "generator"))
    assert metadata["seed"] == 1 and metadata["generator_step"] == 2
    assert re.fullmatch(r"[0-9a-f]{40}", publishing.read_config(str(published))["git_commit"])
    timing = publishing.read_timing(str(published))
    assert timing["sessions"] == 1 and timing["steps"] == 2 and timing["wall_seconds"] > 0
    stored = publishing.read_json(str(published / "metrics.json"))
    assert stored["key"]["generator"] == publishing.generator_digest(str(published / "generator"))
    assert stored["key"]["num_samples"] == 256 and stored["result"]["path"] == "generator"
    readme = (tmp_path / "merged" / "smoke" / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == [
        s.name for s in experiments.select_runs(helpers.SMOKE_RUNS)
    ]
    seed1 = next(r for r in rows if r.startswith("| `exp1_mlp_dbn_seed1`"))
    assert "`flags/exp1_mlp_dbn.cfg --seed=1`" in seed1 and "(1 session); 2 steps" in seed1
    assert re.search(r"\| [0-9a-f]{7}", seed1)
    assert 'signatures["serving_default"](z=' in readme and "python sample.py --generator" in readme
    # committed as models/<profile>/README.md, whose Python block .ci/run's `ruff format` checks
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--diff", "README.md"],
        cwd=tmp_path / "merged" / "smoke",
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


@pytest.mark.slow
def test_run_state_moves_from_new_to_resume_to_done(tmp_path):
    mnist = helpers.write_fake_mnist(tmp_path / "mnist", n_train=160, n_test=64)
    profile = experiments.PROFILES["smoke"]
    spec = experiments.RUNS[0]
    config = experiments.run_config(spec, profile, str(tmp_path / "runs"), mnist)
    assert run_directory.state(config, 224) == "new"
    assert run_directory.target_steps(config, 224) == 2
    from binarygan_tf.training import train_lib

    config.max_steps = 1
    result = train_lib.run_training(config, log=lambda *_: None)
    assert result.generator_step == 1
    config = experiments.run_config(spec, profile, str(tmp_path / "runs"), mnist)
    assert run_directory.state(config, 224) == "resume"  # 1 of 2 steps: continue it
    assert run_directory.trained_step(config.run_dir) == 1
    config.resume = True
    train_lib.run_training(config, log=lambda *_: None)
    assert run_directory.state(config, 224) == "done"
    published = str(tmp_path / "models" / spec.name)
    assert not publishing.is_published(published, config, 2)
    assert publishing.publish(config.run_dir, published)
    assert not publishing.publish(config.run_dir, published)  # unchanged: nothing to do
    assert publishing.is_published(published, config, 2)
    with pytest.raises(UserError, match="trained for 2 generator steps, not this profile's 3"):
        publishing.is_published(published, config, 3)
    config.seed = 1
    with pytest.raises(UserError, match=r"another model than its run: seed=0 \(the run has 1\)"):
        publishing.is_published(published, config, 2)


def test_loss_curve_reads_both_of_our_log_formats_and_the_authors_batch_log(tmp_path):
    keras_csv = tmp_path / "old" / "logs"  # Keras' CSVLogger, as older runs wrote it
    keras_csv.mkdir(parents=True)
    (keras_csv / "training_log.csv").write_text(
        "epoch,d_loss,g_loss,generator_step,slope,val_d_loss\n"
        "0,-2.0,0.5,1093,1.1,NA\n1,-1.5,0.25,2186,1.21,NA\n"
    )
    assert run_directory.loss_curve(str(tmp_path / "old")) == [
        (1093, -2.0, 0.5),
        (2186, -1.5, 0.25),
    ]
    ours = tmp_path / "new" / "logs"  # callbacks.TrainingLog; a session cut off mid-epoch 2
    ours.mkdir(parents=True)
    (ours / "training_log.csv").write_text(
        "generator_step,epoch,d_loss,g_loss,slope\n"
        "8,1.0,-2.0,0.5,1.1\n13,1.625,-1.0,0.3,1.1\n16,2.0,-1.5,0.25,1.21\n"
    )
    assert [step for step, _, _ in run_directory.loss_curve(str(tmp_path / "new"))] == [8, 13, 16]
    theirs = tmp_path / "theirs" / "logs"
    theirs.mkdir(parents=True)
    (theirs / "batch.log").write_text(
        "# epoch, batch, time, negative_critic_loss, g_loss\n"
        "0, 0, 1.0, 1.0, 0.0\n0, 1, 1.0, 3.0, 1.0\n0, 2, 1.0, 2.0, 2.0\n1, 0, 1.0, 0.5, 4.0\n"
    )
    assert run_directory.loss_curve(str(tmp_path / "theirs")) == [(3, -2.0, 1.0), (4, -0.5, 4.0)]
    assert run_directory.loss_curve(str(tmp_path / "none")) == []


def test_a_killed_session_counts_up_to_its_last_checkpoint(tmp_path):
    run_dir = str(tmp_path / "run")
    state = tmp_path / "run" / "checkpoints" / "checkpoint"
    state.parent.mkdir(parents=True)
    run_directory.begin_session(run_dir)
    started = run_directory.read_timing(run_dir)["open_session"]["started"]
    state.write_text('model_checkpoint_path: "ckpt-500"\n')
    os.utime(state, (started + 100.0, started + 100.0))  # its last save, 100 s in; then killed
    run_directory.begin_session(run_dir)  # the next session finds it open
    timing = run_directory.read_timing(run_dir)
    assert timing["wall_seconds"] == pytest.approx(100.0)
    assert timing["sessions"] == 1 and timing["cut_sessions"] == 1
    assert timing["open_session"]["started"] >= started
    os.utime(state, (started, started))  # killed again, this time before any save
    run_directory.begin_session(run_dir)
    run_directory.end_session(run_dir, 50.0)
    timing = run_directory.read_timing(run_dir)
    assert "open_session" not in timing
    assert (timing["wall_seconds"], timing["sessions"], timing["cut_sessions"]) == (
        pytest.approx(150.0),
        2,
        1,
    )


def test_training_time_says_at_least_when_a_session_went_untimed(tmp_path):
    published = tmp_path / "run"
    published.mkdir()
    publishing.files.atomic_write_json(
        str(published / "timing.json"), {"wall_seconds": 128.0, "sessions": 1, "steps": 21860}
    )
    publishing.files.atomic_write_json(
        str(published / "config.json"), {"resumes": [{"generator_step": 20000}]}
    )
    assert publishing.training_time(str(published)) == (
        "at least 2 min 08 s (1 of 2 sessions timed)",
        "n/a",
    )
    publishing.files.atomic_write_json(
        str(published / "timing.json"),
        {"wall_seconds": 2186.0, "sessions": 2, "cut_sessions": 1, "steps": 21860},
    )
    assert publishing.training_time(str(published)) == (
        "36 min 26 s (2 sessions, 1 cut off and counted to its last checkpoint)",
        "0.1000",
    )
