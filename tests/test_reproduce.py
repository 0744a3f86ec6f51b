"""reproduce.py end to end on tiny data (smoke profile): shards, publishing, the merged page,
reuse; and the pieces it is built from (run registry, run state, shard split, claims)."""

import dataclasses
import os
import re
import shutil
import subprocess
import sys

import pytest

from binarygan_tf.errors import UserError
from binarygan_tf.reproduction import claims, experiments, publishing, sharding
from binarygan_tf.reproduction import job as reproduction
from binarygan_tf.reproduction import page as results_page
from binarygan_tf.reproduction.experiments import Configuration
from binarygan_tf.training import run_directory
from tests import helpers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Exp. I (DBN with two seeds, SBN), Exp. II and one CNN: every code path of the page.
ONLY = ("exp1_mlp_dbn", "exp1_mlp_sbn", "exp2_mlp_real", "exp1_mlp_dbn_seed1", "exp4_cnn_dbn")


def _start_reproduce(tmp_path, *extra, runs="runs", models="models", results="docs/results.md"):
    """`reproduce.py --profile=smoke` on tmp_path's folders, started; see _finish."""
    return subprocess.Popen(
        [
            sys.executable,
            os.path.join(REPO, "reproduce.py"),
            "--profile=smoke",
            f"--mnist_dir={tmp_path / 'mnist'}",
            f"--runs_dir={tmp_path / runs}",
            f"--models_dir={tmp_path / models}",
            f"--results={tmp_path / results}",
            f"--cache_dir={tmp_path / 'cache'}",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )


def _finish(proc, timeout=900):
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _reproduce(tmp_path, *extra, **folders):
    return _finish(_start_reproduce(tmp_path, *extra, **folders))


def _trained(stdout):
    """Run names whose training started or resumed in a reproduce.py output."""
    return re.findall(r"\] (\w+) \([^)]*\): (?:starting|resuming)", stdout)


def _generator_mtimes(models_dir):
    return {
        path: os.stat(path).st_mtime_ns
        for path in (os.path.join(root, n) for root, _, names in os.walk(models_dir) for n in names)
        if f"{os.sep}generator{os.sep}" in path
    }


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Two machines of a job array, each with its own runs and models folders, running at the
    same time as an array's jobs do (they share only the data and the classifier cache)."""
    tmp_path = tmp_path_factory.mktemp("reproduce")
    helpers.write_fake_mnist(tmp_path / "mnist", n_train=160, n_test=64)
    started = [
        _start_reproduce(
            tmp_path,
            f"--only={','.join(ONLY)}",
            f"--shard={i}/2",
            runs=f"runs{i}",
            models=f"models{i}",
        )
        for i in (0, 1)
    ]
    return tmp_path, [_finish(proc) for proc in started]


@pytest.fixture(scope="module")
def merged(shards):
    """The shards' published runs copied into one models folder, then the page built from it
    in a fresh runs folder (what a final job after the array does)."""
    tmp_path, procs = shards
    for proc in procs:
        assert proc.returncode == 0, proc.stderr[-3000:]
    for i in (0, 1):
        shutil.copytree(
            tmp_path / f"models{i}" / "smoke", tmp_path / "merged" / "smoke", dirs_exist_ok=True
        )
    before = _generator_mtimes(tmp_path / "merged")
    proc = _reproduce(
        tmp_path, f"--only={','.join(ONLY)}", "--stage=page", runs="fresh", models="merged"
    )
    return tmp_path, proc, before


@pytest.mark.slow
def test_shards_train_disjoint_shares_that_cover_every_run(shards):
    tmp_path, procs = shards
    trained = [_trained(p.stdout) for p in procs]
    # a CNN step costs as much as eight MLP steps: the CNN run alone makes one shard
    assert trained == [
        ["exp4_cnn_dbn"],
        ["exp1_mlp_dbn", "exp1_mlp_sbn", "exp2_mlp_real", "exp1_mlp_dbn_seed1"],
    ]
    assert "shard 1/2: 4 of 5 runs" in procs[1].stdout
    # progress: which run of how many, with an ETA
    assert (
        "[1/4] exp1_mlp_dbn (MLP DBN, WGAN-GP): starting; ETA for the remaining 4 run(s)"
        in procs[1].stdout
    )
    for i, names in enumerate(trained):
        assert sorted(os.listdir(tmp_path / f"models{i}" / "smoke")) == sorted(
            names + ["README.md"]
        )
        for name in names:
            assert run_directory.exported_step(str(tmp_path / f"runs{i}" / name)) == 2
            assert run_directory.read_timing(str(tmp_path / f"runs{i}" / name))["sessions"] == 1
    assert not (tmp_path / "docs").exists()  # a shard writes no page


@pytest.mark.slow
def test_page_from_merged_models_trains_nothing(merged):
    tmp_path, proc, before = merged
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _trained(proc.stdout) == [] and not (tmp_path / "fresh").exists()
    assert _generator_mtimes(tmp_path / "merged") == before
    assert "evaluating" not in proc.stdout  # each shard's metrics.json is reused
    page = (tmp_path / "docs" / "results.md").read_text()
    assert page.startswith("# Results") and "python reproduce.py --profile=smoke" in page
    # Exp. I's three claims, Exp. II's two, Exp. IV's two DBN claims; one budget column
    verdicts = [
        line for line in page.splitlines() if "**holds**" in line or "**does not hold**" in line
    ]
    assert len(verdicts) == 7 and all(line.count("**") == 2 for line in verdicts)
    assert "| exp. | claim (and the rule applied) | `smoke` (2 steps) |" in page
    # the two DBN seeds form one configuration: mean and range in the claims
    assert "FD DBN mean " in page and "2 seeds)" in page
    assert "- Seeds: MLP DBN, WGAN-GP with seeds 0, 1." in page
    assert page.count("| real data (binarized MNIST train digits) |") == 3  # I, II, IV tables
    assert "| MLP DBN, WGAN-GP, seed 1 |" in page
    figures = tmp_path / "docs" / "figures" / "results"
    for name in (
        "exp1_mlp_dbn.png",
        "exp2_mlp_real_binarizations.png",
        "exp4_cnn_dbn.png",
        "histogram_fig4.png",
        "samples_exp_I.png",
        "artifacts_exp_IV.png",  # the MLP DBN beside the CNN DBN, stray pixels in red
    ):
        assert (figures / name).stat().st_size > 5000, name
        assert f"figures/results/{name}" in page
    assert not (figures / "exp1_mlp_dbn_seed1.png").exists()  # one figure per configuration


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
    assert [r.split("`")[1] for r in rows] == [s.name for s in experiments.select_runs(ONLY)]
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
def test_fresh_clone_reuses_published_runs_without_training(merged):
    tmp_path, _, _ = merged
    proc = _reproduce(
        tmp_path,
        "--only=exp1_mlp_dbn,exp1_mlp_sbn",
        runs="clone_runs",
        models="merged",
        results="clone/results.md",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("published in ") == 2 and _trained(proc.stdout) == []
    assert not (tmp_path / "clone_runs").exists() and "evaluating" not in proc.stdout
    assert (tmp_path / "clone" / "results.md").is_file()


@pytest.mark.slow
def test_rerun_reuses_finished_runs_and_evaluations(shards):
    tmp_path, _ = shards
    proc = _reproduce(
        tmp_path, f"--only={','.join(ONLY)}", "--shard=1/2", runs="runs1", models="models1"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("finished earlier, reused") == 4 and _trained(proc.stdout) == []
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
    proc = _reproduce(
        tmp_path,
        "--only=exp1_mlp_dbn,exp1_mlp_sbn",
        "--stage=evaluate",
        runs="running",
        models="running_models",
        results="running/page.md",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _trained(proc.stdout) == []
    assert "not finished, so not published: exp1_mlp_sbn" in proc.stdout
    assert "evaluating exp1_mlp_dbn (256 samples)" in proc.stdout
    published = tmp_path / "running_models" / "smoke"
    assert (published / "exp1_mlp_dbn" / "metrics.json").is_file()
    assert not (published / "exp1_mlp_sbn").exists() and not (runs / "page.md").exists()
    assert sorted(os.listdir(runs / "exp1_mlp_sbn" / "checkpoints")) == checkpoints


def _fake_authors_run(run_dir, spec, generator_step):
    """What a finished compare_authors.py run leaves: their generator exported in our
    contract (untrained here), config.json naming their commit, and its wall time."""
    from binarygan_tf.model import export, networks

    os.makedirs(run_dir)
    generator = networks.build_generator(spec.arch, spec.neuron, "code", seed=3)
    export.export_generator(
        generator,
        str(run_dir / "generator"),
        metadata=dict(
            trained_by="authors_code",
            neuron=spec.neuron,
            arch=spec.arch,
            objective=spec.objective,
            follow="code",
            seed=spec.seed,
            generator_step=generator_step,
        ),
    )
    publishing.files.atomic_write_json(
        str(run_dir / "config.json"),
        {"authors_commit": "6a068a2" + "0" * 33, "tool": {"git_commit": "f" * 40}},
    )
    run_directory.end_session(str(run_dir), 12.5)
    # their per-generator-step log: two epochs of two steps
    (run_dir / "logs").mkdir()
    (run_dir / "logs" / "batch.log").write_text(
        "# epoch, batch, time, negative_critic_loss, g_loss\n"
        "0, 0, 1.0, 2.0, 0.5\n0, 1, 1.0, 4.0, 0.7\n1, 0, 1.0, 0.5, 0.1\n1, 1, 1.0, 0.25, 0.3\n"
    )


@pytest.mark.slow
def test_authors_runs_are_published_evaluated_and_shown_beside_ours(merged, monkeypatch):
    tmp_path, _, _ = merged
    monkeypatch.setattr(experiments, "AUTHORS_PROFILE", "smoke")  # their budget, on tiny data
    models = tmp_path / "with_authors"
    shutil.copytree(tmp_path / "merged" / "smoke", models / "smoke")
    by_name = {spec.name: spec for spec in experiments.AUTHORS_RUNS}
    dbn, sbn = by_name["authors_exp1_mlp_dbn"], by_name["authors_exp1_mlp_sbn"]
    cnn = by_name["authors_exp4_cnn_dbn"]
    target = run_directory.target_steps(dbn, 160 + 64)  # their 20 epochs of the fake data
    authors_runs = tmp_path / "authors_runs"
    _fake_authors_run(authors_runs / "authors_mlp_dbn_wgan-gp", dbn, target)
    _fake_authors_run(authors_runs / "authors_mlp_sbn_wgan-gp", sbn, target)
    _fake_authors_run(authors_runs / "authors_cnn_dbn_wgan-gp", cnn, target - 1)  # cut short
    for name in ("authors_exp3_mlp_dbn_wgan", "authors_exp3_mlp_dbn_wgan_seed1"):  # two seeds
        spec = by_name[name]
        _fake_authors_run(authors_runs / os.path.basename(spec.run_dir), spec, target)
    job = reproduction.plan_job(
        profile="smoke",
        only=ONLY,
        runs_dir=str(tmp_path / "fresh_authors"),
        models_dir=str(models),
        stage="page",
        mnist_dir=str(tmp_path / "mnist"),
        cache_dir=str(tmp_path / "cache"),
        results=str(tmp_path / "authors_docs" / "results.md"),
        command="cmd",
        authors_runs_dir=str(authors_runs),
    )
    assert job.with_authors
    figures = tmp_path / "authors_docs" / "figures" / "results"
    figures.mkdir(parents=True)
    (figures / "exp9_gone.png").write_bytes(b"a figure of a run the page no longer shows")
    logged = []
    outcome = reproduction.run_job(job, log=logged.append)
    assert outcome.status == "completed"
    assert any("authors_cnn_dbn_wgan-gp: trained for" in line for line in logged)
    assert not (models / "smoke" / "authors_exp4_cnn_dbn").exists()
    published = models / "smoke" / "authors_exp1_mlp_dbn"
    assert publishing.read_timing(str(published)) == {
        "wall_seconds": 12.5,
        "sessions": 1,
        "steps": target,
    }
    assert publishing.read_losses(str(published)) == [
        (2, pytest.approx(-3.0), pytest.approx(0.6)),
        (4, pytest.approx(-0.375), pytest.approx(0.2)),
    ]
    readme = (models / "smoke" / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `authors_exp1_mlp_dbn`"))
    assert "`compare_authors.py --arch=mlp --neuron=dbn --objective=wgan-gp`" in row
    assert row.endswith("| their 6a068a2, run by our fffffff |")
    page = (tmp_path / "authors_docs" / "results.md").read_text()
    assert "| `smoke` (2 steps) | authors' code, `smoke` (2 steps) |" in page
    # Exp. I's three claims are checked on their two runs; nothing else is measured there
    first = next(line for line in page.splitlines() if line.startswith("| I | DBN and SBN"))
    cells = first.split(" | ")
    assert "FD DBN mean" in cells[2] and re.match(
        r"\*\*(holds|does not hold)\*\*: FD DBN \d", cells[3]
    )
    iv = next(line for line in page.splitlines() if line.startswith("| IV |"))
    assert iv.rstrip(" |").endswith("not measured")
    assert (
        "- The authors' own code: MLP DBN, WGAN-GP; MLP SBN, WGAN-GP; MLP DBN, WGAN; "
        "MLP DBN, WGAN, seed 1, trained" in page
    )
    assert "(commit 6a068a2" in page and "`python compare_authors.py --arch=cnn" in page
    ours = next(
        line for line in page.splitlines() if line.startswith("| MLP DBN, WGAN-GP | ours |")
    )
    theirs = next(
        line for line in page.splitlines() if line.startswith("| MLP DBN, WGAN-GP | authors' |")
    )
    fd_ours, fd_theirs = (float(line.split(" | ")[2].split()[0]) for line in (ours, theirs))
    assert "2 seeds)" in ours and fd_ours > 0 and fd_theirs > 0 and fd_ours != fd_theirs
    assert "| MLP DBN, WGAN-GP, authors' code |" in page  # its row in Exp. I's table
    # their two seeds of one configuration: one row, as a spread; ours not trained here
    wgan = [line for line in page.splitlines() if line.startswith("| MLP DBN, WGAN | ")]
    assert len(wgan) == 2 and "| ours | not trained yet |" in wgan[0]
    assert wgan[1].startswith("| MLP DBN, WGAN | authors' |") and "2 seeds)" in wgan[1]
    assert (figures / "authors_exp1_mlp_dbn.png").stat().st_size > 5000
    assert not (figures / "exp9_gone.png").exists()
    # their loss curve beside ours, for the configurations both trained
    assert (figures / "loss_curves_authors.png").is_file()
    assert "![loss curves](figures/results/loss_curves_authors.png)" in page


@pytest.mark.slow
def test_a_run_another_process_trains_is_skipped_and_left_alone(tmp_path):
    """A job array resubmitted while its first attempt still runs: the second job leaves the
    run being trained to the first (run_lock) and goes on with its other runs."""
    helpers.write_fake_mnist(tmp_path / "mnist", n_train=160, n_test=64)
    held = tmp_path / "runs" / "exp1_mlp_dbn"
    with run_directory.hold(str(held)):
        proc = _reproduce(tmp_path, "--only=exp1_mlp_dbn,exp2_mlp_real", "--stage=train")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (
            f"exp1_mlp_dbn (MLP DBN, WGAN-GP): being trained by another process (pid "
            f"{os.getpid()} on " in proc.stdout
        ), proc.stdout
        assert run_directory.entries(str(held)) == []  # nothing written into the held run
    assert _trained(proc.stdout) == ["exp1_mlp_dbn", "exp2_mlp_real"]  # both were tried
    assert run_directory.exported_step(str(tmp_path / "runs" / "exp2_mlp_real")) == 2
    assert sorted(os.listdir(tmp_path / "models" / "smoke")) == ["README.md", "exp2_mlp_real"]


# ---------------------------------------------------------------- command-line errors
def test_unknown_run_name_is_one_line_and_exit_2(tmp_path):
    proc = _reproduce(tmp_path, "--only=exp9_nothing")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: --only: unknown run(s) exp9_nothing")
    assert "Traceback" not in proc.stderr and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--shard=x", "--shard='x' is not INDEX/COUNT"),
        ("--shard=-1/2", "is not INDEX/COUNT"),
        ("--shard=2/2", "INDEX counts from 0, so it must be below COUNT (2)"),
        ("--shard=0/0", "COUNT must be at least 1"),
        ("--shard=0/18", "18 shards for 17 run(s)"),
        ("--stage=page --shard=0/2", "--stage=page builds the page from every run"),
    ],
)
def test_bad_shard_is_one_line_and_exit_2(tmp_path, flag, message):
    proc = _reproduce(tmp_path, *flag.split())
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "runs").exists()


def test_progress_flag_reaches_every_run_and_a_bad_one_is_one_line(tmp_path):
    proc = _reproduce(tmp_path, "--progress=loud")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "progress" in errors[0], proc.stderr
    job = reproduction.plan_job(profile="smoke", runs_dir=str(tmp_path), progress_mode="off")
    assert {c.progress for c in reproduction._configs(job, job.specs)} == {"off"}
    default = reproduction.plan_job(profile="smoke", runs_dir=str(tmp_path))
    assert {c.progress for c in reproduction._configs(default, default.specs)} == {"line"}


# ---------------------------------------------------------------- the pieces
def test_run_registry_gives_the_paper_configurations_and_seed_repeats(tmp_path):
    profile = experiments.PROFILES["paper"]
    configs = {s.name: experiments.run_config(s, profile, str(tmp_path)) for s in experiments.RUNS}
    facts = {s.name: experiments.configuration(s, configs[s.name]) for s in experiments.RUNS}
    assert len(experiments.RUNS) == 17 and len(set(configs)) == 17
    assert facts["exp3_mlp_sbn_gan"] == Configuration("III", "mlp", "sbn", "gan", "code")
    assert facts["exp4_cnn_real"] == Configuration("IV", "cnn", "real", "wgan-gp", "code")
    assert facts["extra_mlp_dbn_paperbn"].follow == "paper"
    assert configs["exp1_mlp_dbn"].epochs == 20
    for neuron in ("dbn", "sbn"):
        repeats = [n for n in configs if facts[n] == facts[f"exp1_mlp_{neuron}"]]
        assert repeats == [
            f"exp1_mlp_{neuron}",
            f"exp1_mlp_{neuron}_seed1",
            f"exp1_mlp_{neuron}_seed2",
        ]
        assert [configs[n].seed for n in repeats] == [0, 1, 2]
    wgan = [n for n in configs if facts[n] == facts["exp3_mlp_dbn_wgan"]]
    assert wgan == ["exp3_mlp_dbn_wgan", "exp3_mlp_dbn_wgan_seed1", "exp3_mlp_dbn_wgan_seed2"]
    assert [configs[n].seed for n in wgan] == [0, 1, 2]
    assert len(set(facts.values())) == 11  # eleven configurations, some in several seeds


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


def test_shard_split_is_deterministic_covers_everything_once_and_balances_cost():
    costs = [0.05] * 13 + [0.25] * 3  # the registry: thirteen MLP runs, then three CNN runs
    for count in range(1, 6):
        owner = sharding.assign(costs, count)
        assert owner == sharding.assign(costs, count) and set(owner) == set(range(count))
        loads = [sum(c for c, o in zip(costs, owner, strict=True) if o == s) for s in range(count)]
        assert max(loads) - min(loads) <= 0.25 + 1e-9  # at most one CNN run apart
    assert sorted(sharding.assign(costs, 3)[13:]) == [0, 1, 2]  # each CNN run on its own machine
    shares = [
        sharding.share(experiments.RUNS, sharding.Shard(i, 4), lambda s: 1.0) for i in range(4)
    ]
    names = [s.name for share in shares for s in share]
    assert sorted(names) == sorted(s.name for s in experiments.RUNS)  # each once
    sizes = [len(share) for share in shares]  # equal costs: sizes at most one apart
    assert max(sizes) - min(sizes) == (1 if len(experiments.RUNS) % 4 else 0)
    assert sharding.parse(" 3/4 ") == sharding.Shard(3, 4)


def _result(fd, end_mass=0.1, notch=1.0, recall=0.5, kl=0.1, real=False, stray=0.02):
    metrics = {
        "frechet_distance": fd,
        "stray_pixel_share": stray,
        "recall": recall,
        "kl_to_uniform": kl,
        "max_class_share": 0.2,
    }
    return {
        "real_valued": real,
        "variants": {"threshold" if real else "binary": metrics},
        "preactivation": {"end_mass": end_mass, "notch_ratio": notch, "narrow_notch_ratio": notch},
    }


DBN = Configuration("I", "mlp", "dbn", "wgan-gp", "code")
SBN = Configuration("I", "mlp", "sbn", "wgan-gp", "code")
COUNTS = {"mlp": 1_472_817, "cnn": 530_212}


def test_claims_take_the_mean_over_seeds_and_flag_a_spread_wider_than_the_difference():
    runs = [
        (DBN, 0, _result(40.0, notch=0.8)),
        (DBN, 2, _result(60.0, notch=1.0)),
        (DBN, 1, _result(50.0, notch=0.85)),
        (SBN, 0, _result(55.0, end_mass=0.7)),
    ]
    similar, ends, notch = claims.check(runs, COUNTS)[:3]
    assert similar.holds  # means 50 vs 55: factor 1.10
    assert similar.evidence == (
        "FD DBN mean 50.00 (range 40.00-60.00, 3 seeds), SBN 55.00 (factor 1.10)"
    )
    assert similar.caveat == (
        "FD: the seeds of one configuration spread over 20.00, more "
        "than the 5.00 between the configurations"
    )
    assert ends.holds and ends.caveat == ""  # end mass 0.1 vs 0.7, seeds agree exactly
    assert notch.holds and "range 0.80-1.00" in notch.evidence  # mean 0.883 < 0.9
    assert notch.caveat == "notch ratio: the seeds fall on both sides of 0.9"
    # keyed on the configuration, not on run names or the order of the seeds
    shuffled = claims.check(list(reversed(runs)), COUNTS)[:3]
    assert shuffled == [similar, ends, notch]
    unmeasured = claims.check(runs, COUNTS)[3:]
    assert [v.holds for v in unmeasured] == [None] * len(unmeasured)


def test_exp4_judges_the_papers_two_remarks_apart_quality_and_artifacts():
    cnn = Configuration("IV", "cnn", "dbn", "wgan-gp", "code")
    runs = [
        (DBN, 0, _result(15.0, stray=0.030)),
        (DBN, 1, _result(16.0, stray=0.034)),
        (cnn, 0, _result(31.0, stray=0.012)),
    ]
    iv = [v for v in claims.check(runs, COUNTS) if v.experiment == "IV"]
    (fd, stray), others = iv[:2], iv[2:]  # then SBN's two and the real-valued model's two
    assert (
        not fd.holds and fd.evidence == "FD CNN 31.00, MLP mean 15.50 (range 15.00-16.00, 2 seeds)"
    )
    assert (
        stray.holds and "fewer artifacts" in stray.claim and "530,212 vs 1,472,817" in stray.claim
    )
    assert stray.evidence == "stray pixels CNN 0.012, MLP mean 0.032 (range 0.030-0.034, 2 seeds)"
    assert stray.caveat == "" and [v.holds for v in others] == [None] * 4
    assert "CNN DBN under WGAN" in stray.checked
    # more stray pixels in the CNN's samples: the remark does not hold
    worse = [
        (c, s, _result(r["variants"]["binary"]["frechet_distance"], stray=0.05)) for c, s, r in runs
    ]
    assert not [v for v in claims.check(worse, COUNTS) if v.experiment == "IV"][1].holds


def test_exp4_compares_the_real_valued_cnn_with_exp2s_mlp_thresholded():
    # Fig. 7 (c-d) shows the real-valued CNN; its MLP is Exp. II's, read at the 0.5 threshold
    mlp = Configuration("II", "mlp", "real", "wgan-gp", "code")
    cnn = Configuration("IV", "cnn", "real", "wgan-gp", "code")
    runs = [
        (mlp, 0, _result(20.0, real=True, stray=0.062)),
        (cnn, 0, _result(18.0, real=True, stray=0.020)),
        (DBN, 0, _result(15.0, stray=0.044)),  # Exp. I's MLP is not the real-valued CNN's
    ]
    iv = [v for v in claims.check(runs, COUNTS) if v.experiment == "IV"]
    fd, stray = iv[4:]
    assert fd.claim.startswith("real-valued (thresholded): the CNN beats the MLP")
    assert fd.holds and fd.evidence == "FD CNN 18.00, MLP 20.00"
    assert stray.holds and stray.evidence == "stray pixels CNN 0.020, MLP 0.062"
    assert [v.holds for v in iv[:4]] == [None] * 4  # no DBN or SBN CNN among the runs


class _Run:
    def __init__(self, name, configuration, seed, result):
        self.spec = experiments.RunSpec(name, configuration.experiment, name, seed=seed)
        self.configuration, self.result = configuration, result


class _Evaluations:
    def __init__(self, budgets, authors=None):
        self.budgets, self.authors = budgets, authors or {}
        self.main = experiments.PROFILES["paper"]


def test_page_puts_the_budgets_side_by_side():
    quick = {"a": _Run("a", DBN, 0, _result(40.0)), "b": _Run("b", SBN, 0, _result(90.0))}
    paper = {
        "a": _Run("a", DBN, 0, _result(30.0)),
        "b": _Run("b", SBN, 0, _result(33.0)),
        "c": _Run(
            "c", Configuration("IV", "cnn", "dbn", "wgan-gp", "code"), 0, _result(25.0, stray=0.01)
        ),
    }
    evals = _Evaluations({"quick": quick, "paper": paper})
    rows = results_page.claim_rows(evals, COUNTS)
    assert [(r.experiment, r.verdicts["quick"].holds, r.verdicts["paper"].holds) for r in rows] == [
        ("I", False, True),
        ("I", False, False),
        ("I", False, False),
        ("IV", None, True),
        ("IV", None, True),
    ]  # IV (FD, then stray pixels): the CNN ran in the paper budget only
    ctx = results_page.PageContext(evals, {}, ".", COUNTS, "cmd")
    lines = results_page.claims_section(ctx, rows)
    assert (
        "| exp. | claim (and the rule applied) | `quick` (3 epochs) | `paper` (20 epochs) |"
        in lines
    )
    first = next(line for line in lines if line.startswith("| I | DBN and SBN"))
    assert first.endswith(
        "| **does not hold**: FD DBN 40.00, SBN 90.00 (factor 2.25) | "
        "**holds**: FD DBN 30.00, SBN 33.00 (factor 1.10) |"
    )
    iv = next(line for line in lines if line.startswith("| IV |"))
    assert iv.split(" | ")[2] == "not measured"
    # a claim failing at the main budget is listed with what was checked on our side
    failing = [line for line in lines if line.startswith("- Exp. ")]
    assert len(failing) == 2 and all(line.startswith("- Exp. I, DBN") for line in failing)
    assert "Checked: a training step of ours matches the authors' code's" in failing[0]
    assert "tests/test_parity_tf1.py" in failing[0] and "authors' own code" not in failing[0]


def test_a_claim_failing_in_both_codes_says_so():
    ours = {
        "a": _Run("a", DBN, 0, _result(20.0)),
        "w": _Run("w", Configuration("III", "mlp", "dbn", "wgan", "code"), 0, _result(60.0)),
    }
    theirs = {
        name: _Run(name, dataclasses.replace(run.configuration, implementation="authors"), 0, r)
        for name, run, r in (
            ("A", ours["a"], _result(21.0)),
            ("W", ours["w"], _result(58.0)),
        )
    }
    evals = _Evaluations({"paper": ours}, authors=theirs)
    rows = results_page.claim_rows(evals, COUNTS)
    ctx = results_page.PageContext(evals, {}, ".", COUNTS, "cmd")
    lines = results_page.claims_section(ctx, rows)
    assert (
        "| exp. | claim (and the rule applied) | `paper` (20 epochs) | authors' code, `paper` (20 epochs) |"
        in lines
    )
    (wgan,) = [line for line in lines if line.startswith("- Exp. III")]
    assert "FD WGAN 60.00, WGAN-GP 20.00 (factor 3.00)" in wgan
    assert "MLP DBN under WGAN, with their TF1 RMSProp" in wgan
    assert wgan.endswith(
        "On the authors' own code: **does not hold**: FD WGAN 58.00, WGAN-GP 21.00 (factor 2.76)."
    )


def test_main_budget_is_paper_once_it_has_every_run():
    paper, quick = experiments.PROFILES["paper"], experiments.PROFILES["quick"]
    assert reproduction.main_budget(quick, {"quick": 15, "paper": 15}, 15) is paper
    assert reproduction.main_budget(quick, {"quick": 15, "paper": 14}, 15) is quick
    assert reproduction.main_budget(paper, {"quick": 15, "paper": 3}, 15) is paper
    smoke = experiments.PROFILES["smoke"]
    assert reproduction.main_budget(smoke, {"smoke": 2}, 2) is smoke
