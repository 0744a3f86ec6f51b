"""Loss curves compare like with like (issue #28, 2d): the authors' step.log read per generator
step (run_directory.authors_step_losses), checked against their batch.log, gives the loss ours
logs (before the step's last critic update is applied); a curve of batch.log alone says it holds
the other quantity, losses.csv records which, and the figure never draws the two alike."""

import pytest

from binarygan_tf.errors import UserError
from binarygan_tf.evaluation import plots
from binarygan_tf.reproduction import experiments, figures, publishing
from binarygan_tf.training import run_directory
from binarygan_tf.training.run_directory import (
    CRITIC_LOSS_AFTER_UPDATES,
    CRITIC_LOSS_BEFORE_UPDATE,
    LossCurve,
)

STEPS = 27  # 25 warm-up steps of 100 critic updates, then 5: both lengths of their schedule
EPOCH = 10  # generator steps per epoch of the synthetic batch.log


def _before(c):  # the loss their last critic update of step c fetched (negated)
    return 1.0 + c / 8


def _after(c):  # the loss fetched with the generator update of step c (negated)
    return 1.0 + c / 8 + 0.5


def _write_logs(run_dir, steps=STEPS, step_log=True, cut_last_line=False):
    """Their loop's logs/step.log and logs/batch.log for `steps` generator steps, as their
    models.py writes them (the header, `global_step, -d_loss` with 14.6f, batch.log's
    `epoch, batch, time, -d_loss, g_loss`)."""
    logs = run_dir / "logs"
    logs.mkdir(parents=True)
    lines, batch, global_step = ["# epoch, step, negative_critic_loss\n"], [], 0
    for c in range(steps):
        n = run_directory.authors_critic_count(c)
        for j in range(n):
            global_step += 1
            value = _before(c) if j == n - 1 else 100.0 + j  # only the last one is ours
            lines.append(f"{global_step}, {value:14.6f}\n")
        global_step += 1
        lines.append(f"{global_step}, {_after(c):14.6f}\n")
        batch.append(f"{c // EPOCH:d}, {c % EPOCH:d}, 0.5, {_after(c):f}, {2.0 * c:f}\n")
    if cut_last_line:
        lines[-1] = lines[-1][:3]  # a killed run's buffered file, cut mid-line
    if step_log:
        (logs / "step.log").write_text("".join(lines))
    (logs / "batch.log").write_text(
        "# epoch, batch, time, negative_critic_loss, g_loss\n" + "".join(batch)
    )


def _epoch_means(value, steps=STEPS):
    out = []
    for start in range(0, steps, EPOCH):
        cs = range(start, min(start + EPOCH, steps))
        out.append(
            (
                cs[-1] + 1,
                pytest.approx(-sum(value(c) for c in cs) / len(cs)),
                pytest.approx(sum(2.0 * c for c in cs) / len(cs)),
            )
        )
    return out


# ------------------------------------------------------------------ the parse
def test_step_log_gives_the_loss_before_the_last_critic_update_per_generator_step(tmp_path):
    _write_logs(tmp_path)
    before, after = run_directory.authors_step_losses(str(tmp_path))
    assert before == pytest.approx([_before(c) for c in range(STEPS)])
    assert after == pytest.approx([_after(c) for c in range(STEPS)])
    curve = run_directory.loss_curve(str(tmp_path))
    assert curve.quantity == CRITIC_LOSS_BEFORE_UPDATE
    assert curve == _epoch_means(_before)  # the quantity ours logs, not batch.log's


def test_the_schedule_has_its_every_500th_warm_up_step():
    counts = [run_directory.authors_critic_count(c) for c in (0, 24, 25, 499, 500, 501, 1000)]
    assert counts == [100, 100, 5, 5, 100, 5, 100]


def test_batch_log_alone_is_marked_as_the_loss_after_the_critic_updates(tmp_path):
    _write_logs(tmp_path, step_log=False)
    curve = run_directory.loss_curve(str(tmp_path))
    assert curve.quantity == CRITIC_LOSS_AFTER_UPDATES
    assert curve == _epoch_means(_after)


def test_a_step_log_cut_short_keeps_its_complete_steps(tmp_path):
    _write_logs(tmp_path, cut_last_line=True)
    before, _ = run_directory.authors_step_losses(str(tmp_path))
    assert len(before) == STEPS - 1
    curve = run_directory.loss_curve(str(tmp_path))
    assert curve.quantity == CRITIC_LOSS_BEFORE_UPDATE
    assert curve == _epoch_means(_before, STEPS - 1)


def test_a_step_log_that_disagrees_with_batch_log_is_refused(tmp_path):
    _write_logs(tmp_path)
    batch = tmp_path / "logs" / "batch.log"
    lines = batch.read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace(f"{_after(3):f}", f"{_after(3) + 1e-6:f}")
    batch.write_text("".join(lines))
    with pytest.raises(UserError, match="generator step 3's generator-update line"):
        run_directory.loss_curve(str(tmp_path))


def test_a_step_log_of_another_schedule_is_refused(tmp_path):
    _write_logs(tmp_path)
    step_log = tmp_path / "logs" / "step.log"
    lines = step_log.read_text().splitlines(keepends=True)
    del lines[50]  # one critic update of step 0 missing: 99, not 100
    step_log.write_text("".join(lines))
    with pytest.raises(UserError, match="not a log of their critic schedule"):
        run_directory.authors_step_losses(str(tmp_path))


def test_ours_holds_the_loss_before_the_last_critic_update(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "training_log.csv").write_text(
        "generator_step,epoch,d_loss,g_loss,slope\n8,1.0,-2.0,0.5,1.1\n16,2.0,-1.5,0.25,1.21\n"
    )
    curve = run_directory.loss_curve(str(tmp_path))
    assert curve.quantity == CRITIC_LOSS_BEFORE_UPDATE
    assert curve == [(8, -2.0, 0.5), (16, -1.5, 0.25)]


# ------------------------------------------------------------------ losses.csv
def _published(tmp_path, name, text, authors):
    folder = tmp_path / name
    folder.mkdir()
    config = {"authors_commit": "6a068a2" + "0" * 33} if authors else {"git_commit": "f" * 40}
    publishing.files.atomic_write_json(str(folder / "config.json"), config)
    (folder / "losses.csv").write_text(text)
    return str(folder)


def test_losses_csv_names_its_quantity_and_old_files_still_read(tmp_path):
    rows = [(10, -2.5, 1.0), (20, -1.25, 2.0)]
    before = publishing._losses_csv(LossCurve(rows, CRITIC_LOSS_BEFORE_UPDATE))
    after = publishing._losses_csv(LossCurve(rows, CRITIC_LOSS_AFTER_UPDATES))
    assert before.splitlines()[0] == "generator_step,critic_loss,g_loss"
    assert after.splitlines()[0] == "generator_step,critic_loss_after_updates,g_loss"
    for text, authors, quantity in (
        (before, True, CRITIC_LOSS_BEFORE_UPDATE),
        (after, True, CRITIC_LOSS_AFTER_UPDATES),
        (before, False, CRITIC_LOSS_BEFORE_UPDATE),
    ):
        curve = publishing.read_losses(_published(tmp_path, f"{quantity}{authors}", text, authors))
        assert curve == rows and curve.quantity == quantity
    # written before the column was named: ours logged the loss before the update; every
    # authors' file came from their batch.log
    legacy = "generator_step,d_loss,g_loss\n10,-2.5,1\n20,-1.25,2\n"
    ours = publishing.read_losses(_published(tmp_path, "legacy_ours", legacy, False))
    theirs = publishing.read_losses(_published(tmp_path, "legacy_theirs", legacy, True))
    assert ours == theirs == rows
    assert ours.quantity == CRITIC_LOSS_BEFORE_UPDATE
    assert theirs.quantity == CRITIC_LOSS_AFTER_UPDATES
    # a legacy file holding the same curve is not rewritten for its header alone; a quantity
    # that changed (their step.log now read) is
    assert publishing._same_losses(_published(tmp_path, "same", legacy, False), before)
    assert not publishing._same_losses(_published(tmp_path, "changed", legacy, True), before)
    assert publishing.read_losses(str(tmp_path / "none")) == []


# ------------------------------------------------------------------ the figure
class _Run:
    def __init__(self, spec, configuration, losses):
        self.spec, self.configuration, self.losses = spec, configuration, losses


class _Evaluations:
    def __init__(self, ours, authors):
        self.budgets = {experiments.AUTHORS_PROFILE: ours}
        self.authors = authors


def test_the_figure_never_mixes_the_two_quantities_unlabeled(tmp_path, monkeypatch):
    rows = [(10, -2.0, 1.0), (20, -0.5, 2.0)]
    wgan = experiments.Configuration("III", "mlp", "dbn", "wgan", "code")
    theirs_config = experiments.Configuration("III", "mlp", "dbn", "wgan", "code", "authors")
    by_name = {spec.name: spec for spec in experiments.AUTHORS_RUNS}
    ours = {
        f"exp3_mlp_dbn_wgan_seed{s}": _Run(
            experiments.RunSpec(f"exp3_mlp_dbn_wgan_seed{s}", "III", "ours", seed=s),
            wgan,
            LossCurve(rows, CRITIC_LOSS_BEFORE_UPDATE),
        )
        for s in (0, 1)
    }
    authors = {
        "authors_exp3_mlp_dbn_wgan": _Run(
            by_name["authors_exp3_mlp_dbn_wgan"],
            theirs_config,
            LossCurve(rows, CRITIC_LOSS_AFTER_UPDATES),  # batch.log only
        ),
        "authors_exp3_mlp_dbn_wgan_seed1": _Run(
            by_name["authors_exp3_mlp_dbn_wgan_seed1"],
            theirs_config,
            LossCurve(rows, CRITIC_LOSS_BEFORE_UPDATE),  # step.log
        ),
    }
    (panel,) = figures.loss_curve_panels(_Evaluations(ours, authors))
    assert [(c[0], c[3], c[4]) for c in panel[1]] == [
        ("ours, seed 0", False, CRITIC_LOSS_BEFORE_UPDATE),
        ("ours, seed 1", False, CRITIC_LOSS_BEFORE_UPDATE),
        ("authors' code, seed 0", True, CRITIC_LOSS_AFTER_UPDATES),
        ("authors' code, seed 1", True, CRITIC_LOSS_BEFORE_UPDATE),
    ]
    drawn = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.setdefault("fig", fig) and path)
    plots.loss_curves(str(tmp_path / "curves.png"), [panel], "title")
    fig = drawn["fig"]
    lines = {line.get_label(): line.get_linestyle() for line in fig.axes[0].get_lines()}
    assert lines == {
        "ours, seed 0": "--",
        "ours, seed 1": "--",
        f"authors' code, seed 0 ({plots.AFTER_UPDATES_LABEL})": ":",
        "authors' code, seed 1": "-",
    }
    assert plots.AFTER_UPDATES_NOTE in [t.get_text() for t in fig.texts]
    # with one quantity only, no note
    drawn.clear()
    same = [(panel[0], [c for c in panel[1] if c[4] == CRITIC_LOSS_BEFORE_UPDATE])]
    plots.loss_curves(str(tmp_path / "same.png"), same, "title")
    assert plots.AFTER_UPDATES_NOTE not in [t.get_text() for t in drawn["fig"].texts]
