"""WGAN early markers, ours beside the authors' code, over more seeds (issue #28, point 2c).

Why: under WGAN (weight clipping) the critic's output layer ends on one sign in every run,
negative in the runs whose estimate fell (all three of ours, their seed 1) and positive in
their other two (docs/authors_code.md, "Found by running their code"). If that sign is
decided early and splits alike in both codes over more seeds, the FD gap is chance. So each
run (MLP DBN WGAN, seeds 3-8 by default, both codes) trains to `--max_steps` and records at
each marker step:

- the sign of the critic's output layer: the mean of its kernel, its share of positive weights;
- the critic's estimate: its negated loss, the SAME quantity on both sides (the loss of each
  generator step's last critic update, computed before that update is applied: ours'
  training_log d_loss, their step.log line before each generator update), as a mean over the
  `--window` generator steps before the marker;
- the generator's end mass (evaluation.metrics.end_mass) of its preactivated outputs on one
  fixed z of 2,048 (authors/worker.marker_z), the same z on both sides.

Ours: `train.py --flagfile=flags/exp3_mlp_dbn_wgan.cfg --seed=S` through the library, in legs
(`--resume --max_steps`, exact: legs give the run one straight session gives) to each
window's start and to each marker; each marker reads the checkpoint there (as
tools/critic_weights.py), the estimate comes from training_log.csv's rows of the window.
Theirs: `compare_authors.py --arch=mlp --neuron=dbn --objective=wgan --seed=S
--marker_steps=...`, which records the markers during one uninterrupted run of their loop
(their resume restarts its counters: authors/worker.MarkerRecorder).

    python tools/wgan_markers.py --mnist_dir=../shared/mnist --jobs=2   # seeds 3-8, both sides
    python tools/wgan_markers.py --report_only                           # the tables again
    python tools/wgan_markers.py --report_only --seeds=3,4,5,6,7,8,9,10,11 \
        --publish_to=models/paper/wgan_markers    # the records the results page reads

Output under `--out_dir` (runs/wgan_markers): `<side>_seed<S>/` (the run directory),
`<side>_seed<S>.json` (its markers), `<side>_seed<S>.log` (its output). Rerunning skips the
finished runs and continues the others: ours resumes from its latest checkpoint; a run of
theirs cut short starts again from scratch, since their resume is not the uninterrupted run.
Each run is a child process (binarygan_tf/reproduction/pinned_runs.py); `--jobs=2` runs two
at a time, each pinned to its half of the cores (one core each on 2 cores).
"""

import json
import os
import shutil
import sys

from absl import flags

from binarygan_tf import files
from binarygan_tf.errors import EXIT_INTERRUPTED, UserError
from binarygan_tf.reproduction import pinned_runs
from binarygan_tf.reproduction.wgan_markers import (
    SIDES,
    read_record,
    record_path,
    run_name,
    summary,
)

FLAGFILE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "flags", "exp3_mlp_dbn_wgan.cfg"
)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def define_flags():
    """The tool's flags, defined when it runs as a program, not on import: tests import
    several tools into one process, and absl refuses a flag name defined twice."""
    flags.DEFINE_list(
        "seeds", ["3", "4", "5", "6", "7", "8"], "Seeds to train, each on every side."
    )
    flags.DEFINE_list("sides", list(SIDES), "ours, theirs, or both.")
    flags.DEFINE_integer("max_steps", 6600, "Generator steps of each run (issue #28: near 6,600).")
    flags.DEFINE_list(
        "markers", ["2000", "4000", "6600"], "Generator steps to record the markers at."
    )
    flags.DEFINE_integer(
        "window", 200, "The estimate: a mean over this many steps before a marker."
    )
    flags.DEFINE_string("out_dir", os.path.join("runs", "wgan_markers"), "Where the runs go.")
    flags.DEFINE_string("mnist_dir", None, "The four MNIST IDX files (else TFDS).")
    flags.DEFINE_string("authors_repo", None, "Their checkout (default ../shared/authors_code).")
    flags.DEFINE_integer(
        "jobs", 1, "Runs at a time, each pinned to its share of the cores (at most the cores)."
    )
    flags.DEFINE_boolean("report_only", False, "Train nothing: print the tables of the runs found.")
    flags.DEFINE_string(
        "publish_to",
        None,
        "Also copy the finished runs' records (the JSON files) here, e.g. "
        "models/paper/wgan_markers: the results page reads the verdict from that folder.",
    )
    flags.DEFINE_string("run", None, "Internal: train one run, SIDE:SEED, in this process.")


# ============================================================== one run's record
def _new_record(side, seed, markers, window, max_steps, run_dir):
    from binarygan_tf import provenance

    return {
        "side": side,
        "seed": seed,
        "marker_steps": list(markers),
        "window": window,
        "max_steps": max_steps,
        "run_dir": run_dir,
        "status": "running",
        "markers": [],
        "code": provenance.code_version(),
        # The cores it ran on: their TF1 graph's float sums, and so their run, follow the
        # thread count (--jobs=2 pins each run to one core); ours gave the same numbers on
        # one core and on two in a 400-step run (docs/authors_code.md).
        "cores": len(os.sched_getaffinity(0)),
    }


def is_done(record, markers, window, max_steps):
    """Whether `record` is a finished run of these settings (the markers all recorded)."""
    return (
        record is not None
        and record.get("status") == "done"
        and record.get("marker_steps") == list(markers)
        and record.get("window") == window
        and record.get("max_steps") == max_steps
    )


# ============================================================== ours
def plan_legs(markers, window, max_steps):
    """The generator steps our run stops at, in order: each window's start, each marker, the
    end. A leg ending at a window's start puts a training_log row there, so the window's
    rows cover exactly its steps (window_mean)."""
    stops = {max_steps}
    for m in markers:
        stops.update((max(m - window, 0), m))
    return sorted(s for s in stops if s > 0)


def training_log_rows(run_dir):
    """[(generator_step, d_loss)] of training_log.csv, in file order. Each row is the mean
    of the steps since the row before it in its session (an epoch end, or where a session
    stopped), or since the session's start (a resume)."""
    import csv

    from binarygan_tf.training import run_directory

    path = os.path.join(run_dir, run_directory.TRAINING_LOG)
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return [
            (int(float(row["generator_step"])), float(row["d_loss"]))
            for row in csv.DictReader(f)
            if row.get("d_loss") not in (None, "")
        ]


def window_mean(rows, resume_steps, start, end):
    """The mean d_loss over generator steps (start, end] from training_log rows, or None
    when the rows do not cover exactly those steps.

    Walks back from the last row at `end` while steps decrease, to a row at `start` (or the
    file's beginning when start is 0), weighting each row by the steps since the row before
    it. That chain is the run's path only if every session that began inside the window began
    where a row ends (a session stopped, not killed): a killed session resumes from a
    checkpoint that may lie past the last row, and its steps since that row are then in no
    row (`resume_steps`: config.json's resumes, in order). A resume from before an earlier
    session's start (its newest checkpoint unreadable) leaves that session's rows in the file
    though its path is lost: no mean either. (A row is written after its epoch's checkpoint,
    callbacks.build_callbacks, so a kill never leaves a row past the newest checkpoint.)"""
    ends = [i for i, (step, _) in enumerate(rows) if step == end]
    if not ends:
        return None
    chain = [rows[ends[-1]]]
    i = ends[-1] - 1
    while i >= 0 and start < rows[i][0] < chain[-1][0]:
        chain.append(rows[i])
        i -= 1
    if not ((i >= 0 and rows[i][0] == start) or (i < 0 and start == 0)):
        return None
    steps = {step for step, _ in chain} | {start}
    if any(start < r < end and r not in steps for r in resume_steps):
        return None
    rewound = any(
        later <= earlier < end
        for i, earlier in enumerate(resume_steps)
        for later in resume_steps[i + 1 :]
    )
    if rewound:  # a session resumed from before an earlier one's start: its rows are lost
        return None
    chain.reverse()
    total, previous = 0.0, start
    for step, value in chain:
        total += value * (step - previous)
        previous = step
    return total / (end - start)


def _resume_steps(run_dir):
    from binarygan_tf.training import run_directory

    return [r["generator_step"] for r in run_directory.read_stored(run_dir).get("resumes", [])]


def measure_ours(run_dir, step, z):
    """The critic's output layer and the generator's end mass at checkpoint `step` of our run."""
    import numpy as np

    from binarygan_tf.evaluation import metrics
    from binarygan_tf.training import run_directory, train_lib
    from binarygan_tf.training.config import TrainConfig

    checkpoint = os.path.join(run_dir, run_directory.CHECKPOINT_DIR, f"ckpt-{step}")
    if not os.path.isfile(checkpoint + ".index"):
        raise UserError(f"{run_dir} has no checkpoint of generator step {step} to measure.")
    trainer = train_lib.restore_trainer(TrainConfig.load(run_dir), checkpoint, log=lambda *_: None)
    if int(trainer.generator_step.numpy()) != step:
        raise UserError(f"{checkpoint} holds generator step {int(trainer.generator_step.numpy())}.")
    kernel = trainer.discriminator.get_layer("logits").kernel.numpy()
    preactivated = np.concatenate(
        [
            trainer.generator(z[i : i + 256], training=False)["preactivated"].numpy()
            for i in range(0, len(z), 256)
        ]
    )
    return {
        "generator_step": step,
        "output_kernel_mean": float(kernel.mean()),
        "output_kernel_positive_share": float(np.mean(kernel > 0)),
        "output_kernel_mean_abs": float(np.abs(kernel).mean()),
        "end_mass": metrics.end_mass(preactivated),
        "end_mass_z": len(z),
    }


def run_ours(seed, run_dir, record_file, markers, window, max_steps, mnist_dir, log=print, **kw):
    """Train our run in legs (plan_legs) and record each marker; returns "done" or
    "interrupted". `kw` overrides settings of the flagfile (tests: tiny data and budgets)."""
    import keras

    from binarygan_tf.authors.worker import marker_z
    from binarygan_tf.training import flag_defs, run_directory, train_lib

    record = _load_or_new(record_file, "ours", seed, markers, window, max_steps, run_dir)
    done = {m["generator_step"] for m in record["markers"]}
    z = marker_z()
    for stop in plan_legs(markers, window, max_steps):
        trained = run_directory.trained_step(run_dir)
        if trained < stop:
            config = flag_defs.from_flagfile(
                FLAGFILE,
                **{
                    "progress": "line",
                    **kw,
                    "seed": seed,
                    "max_steps": stop,
                    "out_dir": run_dir,
                    "mnist_dir": mnist_dir,
                    "resume": trained > 0,
                    "overwrite": trained == 0 and os.path.exists(run_dir),
                },
            )
            keras.backend.clear_session()
            result = train_lib.run_training(config, log=log)
            record["train_seconds"] = record.get("train_seconds", 0.0) + result.wall_seconds
            files.atomic_write_json(record_file, record)
            if result.status != "completed":
                return "interrupted"
        if stop in markers and stop not in done:
            start = max(stop - window, 0)
            marker = measure_ours(run_dir, stop, z)
            mean = window_mean(training_log_rows(run_dir), _resume_steps(run_dir), start, stop)
            marker.update(
                estimate=None if mean is None else -mean,
                estimate_window=stop - start,
                train_seconds=record.get("train_seconds"),
            )
            if mean is None:
                log(f"marker {stop}: its window was cut by a killed session; no estimate")
            record["markers"].append(marker)
            done.add(stop)
            files.atomic_write_json(record_file, record)
    record["status"] = "done"
    files.atomic_write_json(record_file, record)
    return "done"


def _load_or_new(record_file, side, seed, markers, window, max_steps, run_dir):
    record = None
    if os.path.isfile(record_file):
        with open(record_file) as f:
            record = json.load(f)
    same = record is not None and all(
        record.get(k) == v
        for k, v in dict(marker_steps=list(markers), window=window, max_steps=max_steps).items()
    )
    if record is not None and not same:
        raise UserError(
            f"{record_file} records another plan (markers {record.get('marker_steps')}, "
            f"window {record.get('window')}, max_steps {record.get('max_steps')}); move it "
            f"and its run away, or pass the same flags."
        )
    return record or _new_record(side, seed, markers, window, max_steps, run_dir)


# ============================================================== theirs
def their_config(seed, max_steps, run_dir, mnist_dir, repo, **extra):
    """compare_authors.py's settings for their MLP DBN WGAN run of `seed` (the configuration
    of the WGAN gap), from scratch; `extra`: further CompareConfig settings."""
    from binarygan_tf.authors import compare

    return compare.CompareConfig(
        neuron="dbn",
        objective="wgan",
        arch="mlp",
        seed=seed,
        max_steps=max_steps,
        out_dir=run_dir,
        overwrite=os.path.exists(run_dir),
        mnist_dir=mnist_dir,
        authors_repo=repo,
        **extra,
    )


def run_theirs(seed, run_dir, record_file, markers, window, max_steps, mnist_dir, repo, log=print):
    """Their run with the markers recorded during it (compare_authors.py --marker_steps), from
    scratch whenever it is not finished; returns "done" or "interrupted"."""
    from binarygan_tf.authors import compare
    from binarygan_tf.authors.worker import MARKERS_FILE

    record = _load_or_new(record_file, "theirs", seed, markers, window, max_steps, run_dir)
    config = their_config(
        seed,
        max_steps,
        run_dir,
        mnist_dir,
        repo,
        marker_steps=tuple(markers),
        marker_window=window,
    )
    if os.path.exists(run_dir):
        log(
            f"{run_dir}: not finished; their resume is not one uninterrupted run, so it "
            f"starts again from scratch"
        )
    result = compare.run(config, log=log)
    if result["status"] != "completed":
        return "interrupted"
    with open(os.path.join(run_dir, MARKERS_FILE)) as f:
        record["markers"] = json.load(f)["markers"]
    record["train_seconds"] = result["wall_seconds"]
    record["status"] = "done"
    files.atomic_write_json(record_file, record)
    return "done"


# ============================================================== the tables
# ============================================================== the runs
def _int_list(name, values, minimum=1):
    try:
        out = [int(v) for v in values]
    except ValueError:
        raise UserError(f"--{name} must be integers, got {','.join(values)}.") from None
    if not out or min(out) < minimum:
        raise UserError(f"--{name} must be integers of at least {minimum}, got {out}.")
    return out


def settings():
    """The flags, checked: (seeds, sides, markers, window, max_steps)."""
    f = flags.FLAGS
    seeds = sorted(set(_int_list("seeds", f.seeds, minimum=0)))
    sides = [s.strip() for s in f.sides]
    if not sides or any(s not in SIDES for s in sides):
        raise UserError(f"--sides must be ours and/or theirs, got {','.join(f.sides)}.")
    markers = sorted(set(_int_list("markers", f.markers)))
    if f.max_steps < 1 or markers[-1] > f.max_steps:
        raise UserError(f"--markers must end by --max_steps={f.max_steps}, got {markers}.")
    if f.window < 1:
        raise UserError(f"--window must be a positive integer, got {f.window}.")
    pinned_runs.check_jobs(f.jobs, "--jobs")
    return seeds, sides, markers, f.window, f.max_steps


def run_one(spec):
    """--run=SIDE:SEED: one run in this process (the parent's child)."""
    from binarygan_tf import startup

    f = flags.FLAGS
    _, _, markers, window, max_steps = settings()
    side, _, seed = spec.partition(":")
    if side not in SIDES or not seed.isdigit():
        raise UserError(f"--run must be SIDE:SEED such as ours:3, got {spec}.")
    seed = int(seed)
    os.makedirs(f.out_dir, exist_ok=True)
    run_dir = os.path.join(f.out_dir, run_name(side, seed))
    record_file = record_path(f.out_dir, side, seed)
    startup.quiet_tensorflow_import()
    if side == "ours":
        status = run_ours(seed, run_dir, record_file, markers, window, max_steps, f.mnist_dir)
    else:
        status = run_theirs(
            seed, run_dir, record_file, markers, window, max_steps, f.mnist_dir, f.authors_repo
        )
    return EXIT_INTERRUPTED if status == "interrupted" else 0


def launch(pending, jobs, argv_flags, out_dir, log=print):
    """Run `pending` [(side, seed)] as child processes, `jobs` at a time, each pinned to its
    share of the cores and its output appended to `<run>.log` (binarygan_tf/reproduction/
    pinned_runs.py); returns "done", "failed" or "interrupted"."""
    children = [
        pinned_runs.Child(
            f"{side} seed {seed}",
            [sys.executable, os.path.abspath(__file__), f"--run={side}:{seed}", *argv_flags],
            os.path.join(out_dir, run_name(side, seed) + ".log"),
            data=(side, seed),
        )
        for side, seed in pending
    ]

    def started(child, share):
        log(f"started {child.name}" + ("" if jobs == 1 else f" on {pinned_runs.cores_text(share)}"))

    def finished(result):
        side, seed = result.child.data
        if result.outcome == pinned_runs.DONE:
            log(f"finished {side} seed {seed} in {result.minutes:.1f} min")
        elif result.outcome == pinned_runs.INTERRUPTED:
            again = (
                "rerun the command to continue"
                if side == "ours"
                else "rerun the command to train it again from scratch"
            )
            log(f"stopped {side} seed {seed}; {again}")
        else:
            log(
                f"{side} seed {seed} failed (status {result.returncode}); see "
                f"{result.child.log_path}"
            )

    return pinned_runs.run_queue(
        children, jobs, cwd=REPO_ROOT, on_start=started, on_finish=finished
    )


def _child_flags():
    f = flags.FLAGS
    out = [
        f"--max_steps={f.max_steps}",
        f"--markers={','.join(f.markers)}",
        f"--window={f.window}",
        f"--out_dir={os.path.abspath(f.out_dir)}",
    ]
    if f.mnist_dir:
        out.append(f"--mnist_dir={os.path.abspath(f.mnist_dir)}")
    if f.authors_repo:
        out.append(f"--authors_repo={os.path.abspath(f.authors_repo)}")
    return out


def main():
    f = flags.FLAGS
    if f.run:
        return run_one(f.run)
    seeds, sides, markers, window, max_steps = settings()
    everything = [(side, seed) for seed in seeds for side in sides]
    for side, seed in everything:  # a record of another plan: say so before training anything
        if os.path.isfile(record_path(f.out_dir, side, seed)):
            _load_or_new(
                record_path(f.out_dir, side, seed), side, seed, markers, window, max_steps, None
            )
    pending = [
        (side, seed)
        for side, seed in everything
        if not is_done(read_record(f.out_dir, side, seed), markers, window, max_steps)
    ]
    status = "done"
    if pending and not f.report_only:
        os.makedirs(f.out_dir, exist_ok=True)
        print(
            f"{len(everything) - len(pending)} of {len(everything)} runs finished earlier; "
            f"training {len(pending)} ({f.jobs} at a time) into {f.out_dir}",
            flush=True,
        )
        status = launch(pending, f.jobs, _child_flags(), f.out_dir)
    records = [
        r for side, seed in everything if (r := read_record(f.out_dir, side, seed)) is not None
    ]
    print()
    print(summary(records, markers) if records else f"no run recorded in {f.out_dir} yet")
    if f.publish_to:
        os.makedirs(f.publish_to, exist_ok=True)
        done = [r for r in records if is_done(r, markers, window, max_steps)]
        for r in done:
            shutil.copyfile(
                record_path(f.out_dir, r["side"], r["seed"]),
                record_path(f.publish_to, r["side"], r["seed"]),
            )
        print(f"copied the records of {len(done)} finished runs to {f.publish_to}")
    return {"done": 0, "interrupted": EXIT_INTERRUPTED}.get(status, 1)


if __name__ == "__main__":
    define_flags()
    from binarygan_tf.commands import cli

    cli.run(main, doc=__doc__)
