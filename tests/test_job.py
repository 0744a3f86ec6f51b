"""job.py: reproduce.py's job end to end on tiny data (smoke profile): reuse of finished and
published runs, the stages, a run another process trains, and the flags it plans from."""

import os
import shutil

import pytest

from binarygan_tf.reproduction import job as reproduction
from binarygan_tf.training import run_directory
from tests import helpers


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """helpers.smoke_shards: two machines of a job array, made once per test process."""
    return helpers.smoke_shards(tmp_path_factory)


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """helpers.smoke_merged: the shards' runs merged and the page built from them."""
    return helpers.smoke_merged(tmp_path_factory)


@pytest.mark.slow
def test_fresh_clone_reuses_published_runs_without_training(merged):
    tmp_path, _, _ = merged
    proc = helpers.reproduce(
        tmp_path,
        "--only=exp1_mlp_dbn,exp1_mlp_sbn",
        runs="clone_runs",
        models="merged",
        results="clone/results.md",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("published in ") == 2 and helpers.trained(proc.stdout) == []
    assert not (tmp_path / "clone_runs").exists() and "evaluating" not in proc.stdout
    assert (tmp_path / "clone" / "results.md").is_file()


@pytest.mark.slow
def test_rerun_reuses_finished_runs_and_evaluations(shards):
    tmp_path, _ = shards
    proc = helpers.reproduce(
        tmp_path,
        f"--only={','.join(helpers.SMOKE_RUNS)}",
        "--shard=1/2",
        runs="runs1",
        models="models1",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("finished earlier, reused") == 4 and helpers.trained(proc.stdout) == []
    assert "evaluating" not in proc.stdout  # metrics came from metrics.json
    assert run_directory.read_timing(str(tmp_path / "runs1" / "exp1_mlp_dbn"))["sessions"] == 1


@pytest.mark.slow
def test_stage_evaluate_publishes_finished_runs_and_trains_nothing(shards):
    """What a still-running job's finished runs need: publish and evaluate them, leave the
    unfinished one alone."""
    tmp_path, _ = shards
    runs = tmp_path / "running"
    shutil.copytree(tmp_path / "runs1" / "exp1_mlp_dbn", runs / "exp1_mlp_dbn")
    shutil.copytree(tmp_path / "runs1" / "exp1_mlp_sbn", runs / "exp1_mlp_sbn")
    shutil.rmtree(runs / "exp1_mlp_sbn" / "generator")  # cut off before its export
    checkpoints = sorted(os.listdir(runs / "exp1_mlp_sbn" / "checkpoints"))
    proc = helpers.reproduce(
        tmp_path,
        "--only=exp1_mlp_dbn,exp1_mlp_sbn",
        "--stage=evaluate",
        runs="running",
        models="running_models",
        results="running/page.md",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert helpers.trained(proc.stdout) == []
    assert "not finished, so not published: exp1_mlp_sbn" in proc.stdout
    assert "evaluating exp1_mlp_dbn (256 samples)" in proc.stdout
    published = tmp_path / "running_models" / "smoke"
    assert (published / "exp1_mlp_dbn" / "metrics.json").is_file()
    assert not (published / "exp1_mlp_sbn").exists() and not (runs / "page.md").exists()
    assert sorted(os.listdir(runs / "exp1_mlp_sbn" / "checkpoints")) == checkpoints


@pytest.mark.slow
def test_a_run_another_process_trains_is_skipped_and_left_alone(tmp_path):
    """A job array resubmitted while its first attempt still runs: the second job leaves the
    run being trained to the first (run_lock) and goes on with its other runs."""
    helpers.write_fake_mnist(tmp_path / "mnist", n_train=160, n_test=64)
    held = tmp_path / "runs" / "exp1_mlp_dbn"
    with run_directory.hold(str(held)):
        proc = helpers.reproduce(tmp_path, "--only=exp1_mlp_dbn,exp2_mlp_real", "--stage=train")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (
            f"exp1_mlp_dbn (MLP DBN, WGAN-GP): being trained by another process (pid "
            f"{os.getpid()} on " in proc.stdout
        ), proc.stdout
        assert run_directory.entries(str(held)) == []  # nothing written into the held run
    assert helpers.trained(proc.stdout) == ["exp1_mlp_dbn", "exp2_mlp_real"]  # both were tried
    assert run_directory.exported_step(str(tmp_path / "runs" / "exp2_mlp_real")) == 2
    assert sorted(os.listdir(tmp_path / "models" / "smoke")) == ["README.md", "exp2_mlp_real"]


def test_progress_flag_reaches_every_run_and_a_bad_one_is_one_line(tmp_path):
    proc = helpers.reproduce(tmp_path, "--progress=loud")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "progress" in errors[0], proc.stderr
    job = reproduction.plan_job(profile="smoke", runs_dir=str(tmp_path), progress_mode="off")
    assert {c.progress for c in reproduction._configs(job, job.specs)} == {"off"}
    default = reproduction.plan_job(profile="smoke", runs_dir=str(tmp_path))
    assert {c.progress for c in reproduction._configs(default, default.specs)} == {"line"}
