"""tools/wgan_markers.py (issue #28, 2c): the markers of a run, ours in resumed legs and theirs
recorded during one run of their loop, the same quantities on both sides, and the tables."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from binarygan_tf.reproduction import wgan_markers as markers
from tests import helpers
from tools import wgan_markers as wm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET = lambda *_: None  # noqa: E731 - a log that drops its lines
# Tiny and quick: 224 fake images in batches of 16 (14 steps an epoch), a short warm-up.
TINY = dict(
    batch_size=16,
    jit_compile=False,
    critic_warmup_until=2,
    sample_every=1000,
    checkpoint_every=1000,
    progress="off",
)


# ------------------------------------------------------------------ the arithmetic
def test_legs_stop_at_each_window_start_marker_and_the_end():
    assert wm.plan_legs([2000, 4000, 6600], 200, 6600) == [1800, 2000, 3800, 4000, 6400, 6600]
    assert wm.plan_legs([100, 150], 200, 300) == [100, 150, 300]  # windows from 0, overlapping


def test_window_mean_weights_each_row_by_its_steps():
    rows = [(3, -1.0), (5, -2.0), (7, -4.0), (10, -8.0)]  # rows: session end, epoch, leg, end
    assert wm.window_mean(rows, [3, 7], 3, 10) == pytest.approx((2 * -2 + 2 * -4 + 3 * -8) / 7)
    assert wm.window_mean(rows, [3, 7], 0, 3) == -1.0
    assert wm.window_mean(rows, [3, 7], 4, 10) is None  # no row at the window's start
    assert wm.window_mean(rows, [3, 7], 3, 9) is None  # nor at its end
    # a session killed after step 7 and resumed from a checkpoint at 8, past the last row:
    # steps 8 (and the row at 10 covers only 9..10) are in no row
    assert wm.window_mean(rows, [3, 7, 8], 3, 10) is None
    # a session started at 7 wrote a row at 9 and was lost, the run resumed at 7 again
    rows = [(3, -1.0), (7, -4.0), (9, -100.0), (10, -8.0)]
    assert wm.window_mean(rows, [3, 7, 7], 7, 10) is None  # 9's row is from the lost path
    assert wm.window_mean([(3, -1.0), (7, -4.0), (10, -8.0)], [3, 7], 7, 10) == -8.0


def test_fisher_and_permutation_odds():
    assert markers.fisher_exact([[3, 0], [0, 3]]) == pytest.approx(0.1)  # 2 of the 20 splits
    assert markers.fisher_exact([[1, 2], [2, 1]]) == pytest.approx(1.0)
    assert markers.fisher_exact([[6, 0], [0, 6]]) == pytest.approx(2 / 924)
    assert markers.permutation_p([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(0.1)
    assert markers.permutation_p([1.0, 2.0], [1.0, 2.0]) == 1.0


def _record(side, seed, signs, done=True):
    markers = [
        dict(
            generator_step=step,
            output_kernel_mean=0.001 * s,
            output_kernel_positive_share=1.0 if s > 0 else 0.0,
            estimate=0.1 * (seed + 1),
            end_mass=0.5 if s > 0 else 0.3,
        )
        for step, s in zip((2000, 4000, 6600), signs, strict=False)
    ]
    return dict(side=side, seed=seed, markers=markers, status="done" if done else "running")


def test_the_tables_say_whether_the_sign_is_decided_early_and_splits_alike():
    records = [
        _record("ours", 3, (-1, -1, -1)),
        _record("ours", 4, (-1, -1, -1)),
        _record("ours", 5, (1, -1, -1)),
        _record("theirs", 3, (1, 1, 1)),
        _record("theirs", 4, (-1, -1, -1)),
        _record("theirs", 5, (1, 1, 1)),
        _record("theirs", 6, (1, 1), done=False),
    ]
    text = markers.summary(records, [2000, 4000, 6600])
    lines = text.splitlines()
    assert lines[0] == "| side | seed | 2,000 steps | 4,000 steps | 6,600 steps |"
    assert "| ours | 3 | - (-0.0010, 0.00 > 0); est. 0.400; end mass 0.300 |" in lines[2]
    assert lines[8].startswith("| theirs (running) | 6 |") and lines[8].endswith("| not yet |")
    assert "| ours | 3 | 2 | 3 | 2 | 0.300 | 0.500 |" in lines
    assert "| theirs | 3 | 1 | 1 | 3 | 0.433 | 0.500 |" in lines
    negative_at_end = next(line for line in lines if "Negative output layer at 6,600" in line)
    assert "ours 3 of 3, theirs 1 of 3" in negative_at_end
    assert f"Fisher exact p = {markers.fisher_exact([[3, 0], [1, 2]]):.3f} (" in negative_at_end
    assert any(line.startswith("- End mass at 6,600: permutation p = ") for line in lines)


def test_bad_flags_are_one_line(tmp_path):
    for flag, message in (
        ("--markers=2000,x", "error: --markers must be integers"),
        ("--markers=2000,7000", "error: --markers must end by --max_steps=6600"),
        ("--sides=ours,mine", "error: --sides must be ours and/or theirs"),
    ):
        proc = helpers.run_script(
            os.path.join("tools", "wgan_markers.py"), [flag, f"--out_dir={tmp_path}"], REPO
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
        assert proc.stderr.startswith(message), proc.stderr


def test_report_only_prints_the_tables_of_the_records_found(tmp_path):
    for record in (_record("ours", 3, (-1, -1, -1)), _record("theirs", 3, (1, 1, 1))):
        record.update(marker_steps=[2000, 4000, 6600], window=200, max_steps=6600)
        with open(markers.record_path(str(tmp_path), record["side"], record["seed"]), "w") as f:
            json.dump(record, f)
    proc = helpers.run_script(
        os.path.join("tools", "wgan_markers.py"),
        ["--report_only", "--seeds=3", f"--out_dir={tmp_path}"],
        REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| ours | 3 | - (-0.0010" in proc.stdout and "| theirs | 3 | + (+0.0010" in proc.stdout
    assert "Negative output layer at 2,000: ours 1 of 1, theirs 0 of 1" in proc.stdout


# ------------------------------------------------------------------ ours
@pytest.mark.slow
def test_ours_in_legs_is_the_straight_run_and_records_each_marker(tmp_path):
    from binarygan_tf import startup

    startup.quiet_tensorflow_import()
    from binarygan_tf.authors.worker import marker_z
    from binarygan_tf.training import flag_defs, train_lib

    mnist = helpers.write_fake_mnist(str(tmp_path / "mnist"), n_train=160, n_test=64)
    run_dir, record_file = str(tmp_path / "ours"), str(tmp_path / "ours.json")
    # windows (2, 6] and (12, 16]: the second crosses the epoch end at 14
    status = wm.run_ours(3, run_dir, record_file, [6, 16], 4, 16, mnist, log=QUIET, **TINY)
    assert status == "done"
    with open(record_file) as f:
        record = json.load(f)
    assert record["status"] == "done" and [m["generator_step"] for m in record["markers"]] == [
        6,
        16,
    ]
    rows = wm.training_log_rows(run_dir)
    assert [step for step, _ in rows] == [2, 6, 12, 14, 16]
    by_step = dict(rows)
    last = record["markers"][1]
    assert last["estimate"] == pytest.approx(-(2 * by_step[14] + 2 * by_step[16]) / 4)
    assert last["estimate_window"] == 4 and last["end_mass_z"] == len(marker_z())
    assert 0.0 <= last["output_kernel_positive_share"] <= 1.0
    # one straight session to 16 trains the same run: the same rows where both end a mean at
    # the same steps, the same critic and generator at the marker
    straight = str(tmp_path / "straight")
    config = flag_defs.from_flagfile(
        wm.FLAGFILE, seed=3, max_steps=16, out_dir=straight, mnist_dir=mnist, **TINY
    )
    train_lib.run_training(config, log=QUIET)
    assert dict(wm.training_log_rows(straight))[16] == by_step[16]
    again = wm.measure_ours(straight, 16, marker_z())
    assert {k: last[k] for k in again} == again
    # a session killed after a leg, before its marker was recorded: the rerun measures it
    # without training; a finished run is left alone
    record["markers"].pop()
    record["status"] = "running"
    with open(record_file, "w") as f:
        json.dump(record, f)
    before = os.path.getmtime(os.path.join(run_dir, "logs", "training_log.csv"))
    assert wm.run_ours(3, run_dir, record_file, [6, 16], 4, 16, mnist, log=QUIET, **TINY) == "done"
    with open(record_file) as f:
        assert json.load(f)["markers"][1] == last
    assert os.path.getmtime(os.path.join(run_dir, "logs", "training_log.csv")) == before
    assert wm.is_done(json.load(open(record_file)), [6, 16], 4, 16)  # noqa: SIM115


# ------------------------------------------------------------------ theirs


@pytest.mark.slow
def test_their_markers_are_ours_quantities_and_leave_their_training_alone(tmp_path):
    repo = helpers.authors_repo_or_skip()
    from binarygan_tf import startup

    startup.quiet_tensorflow_import()
    import tensorflow as tf

    from binarygan_tf.authors import compare
    from binarygan_tf.authors.worker import MARKERS_FILE, marker_z
    from binarygan_tf.evaluation import metrics
    from binarygan_tf.training import run_directory

    mnist = helpers.write_fake_mnist(str(tmp_path / "mnist"), n_train=160, n_test=64)

    def their_run(name, **markers):
        config = compare.CompareConfig(
            neuron="dbn",
            objective="wgan",
            arch="mlp",
            seed=3,
            max_steps=4,
            out_dir=str(tmp_path / name),
            mnist_dir=mnist,
            authors_repo=repo,
            **markers,
        )
        assert compare.run(config, log=QUIET)["status"] == "completed"
        with np.load(tmp_path / name / compare.WEIGHTS_FILE) as f:
            return dict(f)

    marked = their_run("marked", marker_steps=("2", "4"), marker_window=3)
    plain = their_run("plain")
    assert marked.keys() == plain.keys()
    for key in plain:  # the markers' reads change nothing of their training
        np.testing.assert_array_equal(marked[key], plain[key], err_msg=key)
    with open(tmp_path / "marked" / MARKERS_FILE) as f:
        first, last = json.load(f)["markers"]
    # the estimate: their step.log's loss before each step's last critic update, negated
    before, after = run_directory.authors_step_losses(str(tmp_path / "marked"))
    assert first["estimate"] == pytest.approx(np.mean(before[:2]), abs=1e-5)
    assert last["estimate"] == pytest.approx(np.mean(before[1:4]), abs=1e-5)
    assert last["estimate_after_critic_updates"] == pytest.approx(np.mean(after[1:4]), abs=1e-5)
    assert (first["estimate_window"], last["estimate_window"]) == (2, 3)
    # the end mass at the last marker: their final generator, rebuilt as ours, on the same z
    generator = tf.saved_model.load(str(tmp_path / "marked" / "generator"))
    z = marker_z()
    pre = np.concatenate(
        [
            generator.signatures["serving_default"](z=tf.constant(z[i : i + 512]))[
                "preactivated"
            ].numpy()
            for i in range(0, len(z), 512)
        ]
    )
    assert last["end_mass"] == pytest.approx(metrics.end_mass(pre), abs=1e-4)
    assert last["end_mass_z"] == len(z)


# ------------------------------------------------------------------ the command
@pytest.mark.slow
def test_the_command_trains_both_sides_then_skips_them(tmp_path):
    helpers.authors_repo_or_skip()
    mnist = helpers.write_fake_mnist(str(tmp_path / "mnist"), n_train=160, n_test=64)
    out = tmp_path / "markers"
    command = [
        sys.executable,
        os.path.join(REPO, "tools", "wgan_markers.py"),
        "--seeds=3",
        "--max_steps=3",
        "--markers=2,3",
        "--window=1",
        f"--mnist_dir={mnist}",
        f"--out_dir={out}",
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "0 of 2 runs finished earlier; training 2 (1 at a time)" in proc.stdout
    for side in ("ours", "theirs"):
        record = markers.read_record(str(out), side, 3)
        assert record["status"] == "done", side
        assert [m["generator_step"] for m in record["markers"]] == [2, 3]
        assert (out / f"{side}_seed3.log").is_file()
        assert f"| {side} | 3 | " in proc.stdout
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "started" not in proc.stdout and "| theirs | 3 | " in proc.stdout


def test_the_page_reads_the_verdict_from_the_published_records(tmp_path):
    """The results page states the WGAN verdict from the records in models/paper/wgan_markers
    (load_records skips a run still training), with the FD odds of the paper-budget seeds;
    the wording follows the smallest p, so a marker that parts the codes is said to."""
    from binarygan_tf.reproduction import claims, page

    records = [
        _record("ours", 3, (1, 1, -1)),
        _record("ours", 4, (1, 1, 1)),
        _record("ours", 5, (1, 1, 1)),
        _record("theirs", 3, (1, 1, 1)),
        _record("theirs", 4, (1, 1, -1)),
        _record("theirs", 5, (1, 1, 1)),
        _record("theirs", 6, (1, 1), done=False),
    ]
    for r in records:
        r["marker_steps"] = [2000, 4000, 6600]
        (tmp_path / f"{r['side']}_seed{r['seed']}.json").write_text(json.dumps(r))
    loaded = markers.load_records(str(tmp_path))
    assert [(r["side"], r["seed"]) for r in loaded] == [("ours", s) for s in (3, 4, 5)] + [
        ("theirs", s) for s in (3, 4, 5)
    ]
    assert markers.load_records(str(tmp_path / "none")) == []
    ours_fd, theirs_fd = claims.Spread((60.0, 55.0, 50.0)), claims.Spread((45.0, 42.0, 48.0))
    (text,) = page.wgan_verdict(loaded, "MLP DBN, WGAN", ours_fd, theirs_fd)
    assert "permutation p = 0.100" in text and "0.100 is the smallest p" in text
    assert "negative at 2,000 steps in 0 of ours and 0 of theirs (Fisher p = 1.000)" in text
    assert "at 6,600 in 1 and 1 (p = 1.000)" in text
    # end mass: ours 0.3, 0.5, 0.5 against theirs 0.5, 0.3, 0.5: the same means
    assert "the end mass is 0.433 against 0.433 (p = 1.000)" in text
    assert "No marker tells the codes apart" in text
    # theirs all negative at 6,600, ours all positive: the smallest p falls below 0.05
    # only with enough runs; 6 a side all against all gives Fisher p = 2/924
    parted = [_record("ours", s, (1, 1, 1)) for s in range(6)] + [
        _record("theirs", s, (1, 1, -1)) for s in range(6)
    ]
    for r in parted:
        r["marker_steps"] = [2000, 4000, 6600]
    (text,) = page.wgan_verdict(parted, "MLP DBN, WGAN", ours_fd, theirs_fd)
    assert "(p = 0.002)" in text and "A marker tells the codes apart" in text
