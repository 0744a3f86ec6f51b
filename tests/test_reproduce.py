"""reproduce.py end to end on tiny data with the smoke profile: runs, page, figures, reuse."""

import os
import subprocess
import sys

import pytest

from binarygan_tf import reproduction
from tests import helpers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONLY = "exp1_mlp_dbn,exp1_mlp_sbn,exp2_mlp_real,exp4_cnn_dbn"


def _reproduce(tmp_path, *extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "reproduce.py"), "--profile=smoke",
         f"--mnist_dir={tmp_path / 'mnist'}", f"--runs_dir={tmp_path / 'runs'}",
         f"--results={tmp_path / 'docs' / 'results.md'}", f"--cache_dir={tmp_path / 'cache'}",
         *extra], capture_output=True, text=True, cwd=REPO, env=env, timeout=600)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("reproduce")
    helpers.write_fake_mnist(tmp_path / "mnist", n_train=160, n_test=64)
    return tmp_path, _reproduce(tmp_path, f"--only={ONLY}")


def test_writes_the_page_with_claims_tables_and_figures(first_run):
    tmp_path, proc = first_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = (tmp_path / "docs" / "results.md").read_text()
    assert page.startswith("# Results")
    assert "python reproduce.py --profile=smoke" in page
    # Exp. I's three claims, Exp. II's two, Exp. IV's DBN claim; each with a verdict
    verdict_lines = [l for l in page.splitlines() if "**holds**" in l or "**does not hold**" in l]
    assert len(verdict_lines) == 6
    assert page.count("| real data (binarized MNIST train digits) |") == 3  # I, II, IV tables
    figures = tmp_path / "docs" / "figures" / "results"
    for name in ("exp1_mlp_dbn.png", "exp2_mlp_real_binarizations.png", "exp4_cnn_dbn.png",
                 "histogram_fig4.png", "samples_exp_I.png"):
        assert (figures / name).stat().st_size > 5000, name
        assert f"figures/results/{name}" in page
    # progress: which run of how many, with an ETA
    assert "[1/4] exp1_mlp_dbn" in proc.stdout and "ETA for the remaining 4 run(s)" in proc.stdout


def test_runs_are_real_train_runs_with_timings(first_run):
    tmp_path, _ = first_run
    for name in ONLY.split(","):
        run_dir = tmp_path / "runs" / name
        assert reproduction.exported_step(str(run_dir)) == 2
        assert reproduction.read_timing(str(run_dir))["sessions"] == 1
        assert (run_dir / "evaluation" / "metrics.json").is_file()


def test_rerun_reuses_finished_runs_and_evaluations(first_run):
    tmp_path, _ = first_run
    proc = _reproduce(tmp_path, f"--only={ONLY}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("finished earlier, reused") == 4
    assert "evaluating exp1_mlp_dbn" not in proc.stdout  # metrics came from the cache
    assert reproduction.read_timing(str(tmp_path / "runs" / "exp1_mlp_dbn"))["sessions"] == 1


def test_unknown_run_name_is_one_line_and_exit_2(tmp_path):
    proc = _reproduce(tmp_path, "--only=exp9_nothing")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: --only: unknown run(s) exp9_nothing")
    assert "Traceback" not in proc.stderr and not (tmp_path / "runs").exists()


def test_flagfiles_give_the_paper_configurations():
    configs = {s.name: reproduction.read_flagfile(s.flagfile) for s in reproduction.RUNS}
    assert configs["exp3_mlp_sbn_gan"] == dict(arch="mlp", neuron="sbn", objective="gan")
    assert configs["exp4_cnn_real"] == dict(arch="cnn", neuron="real", objective="wgan-gp")
    assert configs["extra_mlp_dbn_paperbn"]["bn_mode"] == "paper"
    assert len(reproduction.RUNS) == 11


def test_run_state_moves_from_new_to_resume_to_done(tmp_path):
    mnist = helpers.write_fake_mnist(tmp_path / "mnist", n_train=160, n_test=64)
    profile = reproduction.PROFILES["smoke"]
    spec = reproduction.RUNS[0]
    config = reproduction.run_config(spec, profile, str(tmp_path / "runs"), mnist)
    assert reproduction.run_state(config, 224) == "new"
    assert reproduction.target_steps(config, 224) == 2
    from binarygan_tf import train_lib

    config.max_steps = 1
    result = train_lib.run_training(config, log=lambda *_: None)
    assert result.generator_step == 1
    config = reproduction.run_config(spec, profile, str(tmp_path / "runs"), mnist)
    assert reproduction.run_state(config, 224) == "resume"  # 1 of 2 steps: continue it
    config.resume = True
    train_lib.run_training(config, log=lambda *_: None)
    assert reproduction.run_state(config, 224) == "done"
