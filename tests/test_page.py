"""page.py (docs/results.md) and what it is made of: the claims table per budget, the figures,
the authors' code's runs beside ours; built end to end on tiny data (smoke profile) and from
made-up evaluations."""

import dataclasses
import os
import re
import shutil

import pytest

from binarygan_tf.reproduction import claim_table, claims, experiments, page, publishing
from binarygan_tf.reproduction import job as reproduction
from binarygan_tf.reproduction.experiments import Configuration
from binarygan_tf.training import run_directory
from tests import helpers

_result = helpers.claim_result
DBN = Configuration("I", "mlp", "dbn", "wgan-gp", "code")
SBN = Configuration("I", "mlp", "sbn", "wgan-gp", "code")
COUNTS = helpers.PARAM_COUNTS


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """helpers.smoke_merged: the shards' runs merged and the page built from them."""
    return helpers.smoke_merged(tmp_path_factory)


@pytest.mark.slow
def test_page_from_merged_models_trains_nothing(merged):
    tmp_path, proc, before = merged
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert helpers.trained(proc.stdout) == [] and not (tmp_path / "fresh").exists()
    assert helpers.generator_mtimes(tmp_path / "merged") == before
    assert "evaluating" not in proc.stdout  # each shard's metrics.json is reused
    page = (tmp_path / "merged_docs" / "results.md").read_text()
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
    figures = tmp_path / "merged_docs" / "figures" / "results"
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
        only=helpers.SMOKE_RUNS,
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
    # their one run placed among our two seeds, under the table
    assert f"- MLP DBN, WGAN-GP: their FD {fd_theirs:.2f} lies " in page
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
    rows = claim_table.claim_rows(evals, COUNTS)
    assert [(r.experiment, r.verdicts["quick"].holds, r.verdicts["paper"].holds) for r in rows] == [
        ("I", False, True),
        ("I", False, False),
        ("I", False, False),
        ("IV", None, True),
        ("IV", None, True),
    ]  # IV (FD, then stray pixels): the CNN ran in the paper budget only
    ctx = page.PageContext(evals, {}, ".", COUNTS, "cmd")
    lines = page.claims_section(ctx, rows)
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
    rows = claim_table.claim_rows(evals, COUNTS)
    ctx = page.PageContext(evals, {}, ".", COUNTS, "cmd")
    lines = page.claims_section(ctx, rows)
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


@pytest.mark.parametrize(
    "ours, theirs, expected",
    [
        ((29.0, 30.8, 31.5), (30.0,), "lies inside our range (29.00-31.50, 3 seeds)"),
        (
            (29.0, 30.8, 31.5),
            (26.7,),
            "lies below all of ours (29.00-31.50, 3 seeds), 2.30 beyond our nearest seed "
            "while ours spread over 2.50. Chance alone puts one run below all 3 of another "
            "with probability 1/4 = 0.25",
        ),
        ((13.78, 15.03), (16.09,), "lies above all of ours (13.78-15.03, 2 seeds), 1.06 beyond"),
        ((13.78,), (16.09,), None),  # one seed of ours: nothing to place it among
        ((13.78, 15.03), (16.09, 17.0), None),  # several of theirs: the permutation test's
        ((13.78, float("nan")), (16.09,), None),
    ],
)
def test_one_run_of_theirs_is_placed_among_our_seeds(ours, theirs, expected):
    verdict = page.one_run_verdict(
        "CNN SBN, WGAN-GP", claims.Spread(tuple(ours)), claims.Spread(tuple(theirs))
    )
    if expected is None:
        assert verdict is None
    else:
        assert verdict.startswith("- CNN SBN, WGAN-GP: their FD ") and expected in verdict
