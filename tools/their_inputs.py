"""Ours on their inputs (issue #28, 2b): our train_step driven from the authors' initial state,
with exactly the z and the batch order their loop draws for a seed, beside their own run.

Why: under WGAN our MLP DBN runs and theirs part (docs/authors_code.md). Every single update
agrees from one state (the parity test, early and late: tools/late_parity.py), so the cause is
either in what the two runs are fed and start from (our streams, our initialization) or in
how the steps compound. So ours is fed what theirs is fed:

- their initial state for the seed: their model built and initialized exactly as
  `compare_authors.py --seed=S` does it (worker `their_inputs`), loaded into ours
  (weights and RMSProp slots, parity._Ours.set_state);
- their stream: `compare_authors.py --seed=S` seeds NumPy's global generator, and their loop
  draws from it the sampler's z and batch, then per epoch all z and the batch order
  (authors/draws.TheirStream). Checked, not assumed: their own loop, run for
  `--verify_steps` generator steps in the worker, records what it feeds, which must equal the
  reproduction exactly, and its state after those steps must equal, bit for bit, the
  checkpoint of `compare_authors.py --seed=S --max_steps=<verify_steps>`;
- our trainer (train_lib.build_trainer of flags/exp3_mlp_dbn_wgan.cfg, its train_step
  compiled as fit() compiles it) then trains `--max_steps` generator steps, each on their
  batch and their z (the z replayed inside the step, parity._Ours.free_step).

At each of `--markers` it records the markers of tools/wgan_markers.py (the critic's output
layer, through wgan_markers.measure_ours on a checkpoint written there; the estimate, the
negated loss of each step's last critic update before it is applied, as a mean over the
`--window` steps before the marker; the end mass on worker.marker_z), and their run
(wgan_markers.run_theirs: `compare_authors.py --seed=S --marker_steps=...`) records the same.
Free-running float chaos parts any two computations within a few steps (docs), so what is
compared is the regime, not the trajectory: the per-step losses of the first steps are
printed side by side to show where they part.

    python tools/their_inputs.py --mnist_dir=../shared/mnist                 # seeds 1 and 2
    python tools/their_inputs.py --seeds=1 --sides=ours --mnist_dir=../shared/mnist
    python tools/their_inputs.py --report_only

Output under `--out_dir` (runs/their_inputs): `ours_seed<S>/` (a run directory: config.json,
the markers' checkpoints, losses.npy: the per-step critic loss), `theirs_seed<S>/` (their run),
`check_seed<S>/` (their short run of the check), `<side>_seed<S>.json` (the markers, in
wgan_markers' format, so its tables print them; "ours" here is ours on their inputs),
`stream_seed<S>.json` (the checks). A finished side is skipped on a rerun; an unfinished one
starts again from scratch. Shares wgan_markers' flags (--seeds, --sides, --max_steps,
--markers, --window, --out_dir, --mnist_dir, --authors_repo, --report_only); its --jobs and
--run are not used here: the sides run one after the other, in this process's cores (pin it
with taskset). `--sides=check` runs only the checks of the stream (e.g. with
`--verify_steps=1100`, across an epoch's end).
"""

import contextlib
import os
import sys
import tempfile
import time

from absl import flags

from binarygan_tf import files
from binarygan_tf.errors import EXIT_INTERRUPTED, UserError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_STEPS = 6558  # 6 epochs of 1,093 steps
MARKERS = sorted({*range(500, MAX_STEPS, 500), 2000, 4000, MAX_STEPS})
SEEDS = (1, 2)  # their published paper-budget WGAN runs of seeds 1 and 2 went opposite ways
VERIFY_STEPS = 25
# The early per-step losses compared; the two sides "part" at the first step whose losses
# differ by more than PART of the loss (of 1 when the loss is smaller; their step.log prints 6
# decimals, and the warm-up's losses are near -18, where float32 holds about 7 digits).
EARLY_STEPS, PART = 300, 1e-3


def define_flags():
    """wgan_markers' flags (imported: the same meanings) with this tool's defaults, and its
    own. Only when run as a program: tests import the modules of tools/ side by side."""
    from tools import wgan_markers

    wgan_markers.define_flags()  # the shared flags

    f = flags.FLAGS
    f.set_default("seeds", [str(s) for s in SEEDS])
    f.set_default("max_steps", MAX_STEPS)
    f.set_default("markers", [str(m) for m in MARKERS])
    f.set_default("out_dir", os.path.join("runs", "their_inputs"))
    flags.DEFINE_integer(
        "verify_steps",
        VERIFY_STEPS,
        "Generator steps of their loop whose feeds are recorded and checked against the "
        "reproduction of their stream (and their state after them against a seeded run).",
    )


# ============================================================== their start and stream
def their_start(seed, images_path, repo, workdir, steps, log=print):
    """Their initial state for `seed` and what their loop fed its first `steps` steps (worker
    `their_inputs`): ({name: array} initial state, {name: array} feeds and state after)."""
    import numpy as np

    from binarygan_tf.authors import client, presets

    request = {
        "command": "their_inputs",
        "authors_repo": repo,
        "setup": vars(presets.setup_for("dbn", "wgan", "mlp")),
        "images_path": images_path,
        "batch_size": 64,
        "seed": seed,
        "record_steps": steps,
        "initial_path": os.path.join(workdir, "initial.npz"),
        "feeds_path": os.path.join(workdir, "feeds.npz"),
    }
    result = client.run(request, workdir, timeout=3600, quiet=True)
    log(
        f"their loop, seed {seed}: {result['recorded_steps']} generator steps recorded in "
        f"{result['wall_seconds']:.0f} s"
    )
    with np.load(request["initial_path"]) as a, np.load(request["feeds_path"]) as b:
        return dict(a), dict(b)


def check_stream(feeds, images, seed, batch=64):
    """What their loop fed (`feeds`) against draws.TheirStream(seed): {check: bool}, every
    one of which must hold exactly."""
    import numpy as np

    from binarygan_tf.authors import draws

    stream = draws.TheirStream(seed, len(images), batch)
    n = len(feeds["z"])
    epochs = [stream.epoch() for _ in range(-(-n // stream.num_batch))]  # as many as n spans
    z = np.concatenate([e[0] for e in epochs])
    rows = np.concatenate([e[1] for e in epochs])
    images = np.asarray(images).astype(bool)
    return {
        "z_sample": bool(np.array_equal(feeds["z_sample"], stream.z_sample)),
        "x_sample": bool(np.array_equal(feeds["x_sample"], images[stream.sample_rows])),
        "z": bool(np.array_equal(feeds["z"], z[:n])),
        "x": bool(np.array_equal(feeds["x"], images[rows[:n]])),
        "steps": n,
    }


def check_against_run(feeds, seed, steps, run_dir, mnist_dir, repo, log=print):
    """Their state after `steps` steps in the worker against a seeded `compare_authors.py
    --max_steps=steps` run's checkpoint: {variable: max |difference|} of those that differ
    (empty: bit for bit; both runs use this process's cores)."""
    import numpy as np

    from binarygan_tf.authors import compare, parity
    from tools import wgan_markers

    config = wgan_markers.their_config(seed, steps, run_dir, mnist_dir, repo)
    result = compare.run(config, log=lambda *_: None)
    if result["status"] != "completed" or result["generator_steps"] != steps:
        raise UserError(f"the check run of seed {seed} did not reach {steps} steps: {result}")
    checkpoint, recorded = parity.resolve_checkpoint(run_dir)
    theirs = parity.checkpoint_state(checkpoint)
    ours = {k[len("state/") :]: v for k, v in feeds.items() if k.startswith("state/")}
    if set(theirs) != set(ours):
        raise UserError(f"{checkpoint} holds other variables than their worker's state")
    log(f"check run of seed {seed}: {checkpoint} (generator step {recorded})")
    return {
        n: float(np.max(np.abs(ours[n].astype(np.float64) - theirs[n])))
        for n in sorted(theirs)
        if not np.array_equal(ours[n], theirs[n])
    }


# ============================================================== ours on their inputs
def run_ours(seed, initial, images, run_dir, record_file, markers, window, max_steps, log=print):
    """Our trainer from their `initial` state, fed their stream for `seed`, `max_steps`
    generator steps, the markers recorded on the way; returns the per-step critic losses."""
    import numpy as np

    from binarygan_tf import provenance
    from binarygan_tf.authors import draws, parity
    from binarygan_tf.authors.worker import marker_z
    from binarygan_tf.training import flag_defs, run_directory, train_lib
    from tools import wgan_markers as wm

    record = wm._new_record("ours", seed, markers, window, max_steps, run_dir)
    record["inputs"] = "theirs"  # their initial state and stream (this tool)
    config = flag_defs.from_flagfile(wm.FLAGFILE, seed=seed, out_dir=run_dir)
    if os.path.exists(run_dir):
        import shutil

        shutil.rmtree(run_dir)  # an unfinished run: from scratch (its path is not resumable)
    os.makedirs(run_dir)
    run_directory.record_config(run_dir, config.to_json(), provenance.code_version())
    stream = draws.TheirStream(seed, len(images), config.batch_size)
    spe = stream.num_batch
    z, rows = stream.epoch()
    fixed_z = marker_z()
    losses = []
    started = time.time()
    with contextlib.ExitStack() as patches:
        ours = parity._Ours(
            "mlp", "dbn", "wgan", {"z": z.astype(np.float32)}, [], patches, config=config
        )
        ours.set_state(initial, 0, 0)
        checkpoints = train_lib.RunCheckpoints(ours.trainer, run_dir)
        for step in range(max_steps):
            b = step % spe
            if b == 0 and step:
                z, rows = stream.epoch()
                ours.z.values.assign(z.astype(np.float32))
            losses.append(ours.free_step(images[rows[b]].astype(np.float32), b))
            done = step + 1
            if done in markers:
                checkpoints.save(done)
                marker = wm.measure_ours(run_dir, done, fixed_z)
                marker.update(
                    estimate=-float(np.mean(losses[max(done - window, 0) :])),
                    estimate_window=min(window, done),
                    train_seconds=time.time() - started,
                )
                record["markers"].append(marker)
                files.atomic_write_json(record_file, record)
                np.save(os.path.join(run_dir, "losses.npy"), np.asarray(losses))
                log(
                    f"ours on their inputs, seed {seed}, step {done}: output layer mean "
                    f"{marker['output_kernel_mean']:+.4f} ({marker['output_kernel_positive_share']:.2f}"
                    f" > 0), estimate {marker['estimate']:.3f}, end mass {marker['end_mass']:.3f}"
                    f" ({time.time() - started:.0f} s)"
                )
    np.save(os.path.join(run_dir, "losses.npy"), np.asarray(losses))
    record.update(status="done", train_seconds=time.time() - started)
    files.atomic_write_json(record_file, record)
    return losses


def early_losses(ours_dir, theirs_dir, steps=EARLY_STEPS):
    """The per-step critic loss (before each step's last critic update) of the first `steps`
    steps on both sides, and the first step at which they differ by more than PART of it."""
    import numpy as np

    from binarygan_tf.training import run_directory

    path = os.path.join(ours_dir, "losses.npy")
    logged = run_directory.authors_step_losses(theirs_dir)
    if not os.path.isfile(path) or logged is None:
        return None
    ours = np.load(path)[:steps]
    theirs = -np.asarray(logged[0][:steps])  # step.log holds the negated loss
    n = min(len(ours), len(theirs))
    diff = np.abs(ours[:n] - theirs[:n])
    apart = np.nonzero(diff > PART * np.maximum(1.0, np.abs(theirs[:n])))[0]
    return {
        "ours": ours[:n].tolist(),
        "theirs": theirs[:n].tolist(),
        "max_diff_before_parting": float(diff[: apart[0]].max())
        if len(apart)
        else float(diff.max()),
        "first_step_apart": int(apart[0]) if len(apart) else None,
    }


# ============================================================== the seeds
def verified_start(seed, images, out_dir, mnist_dir, repo, steps, log=print):
    """Their initial state for `seed`, once what their loop feeds its first `steps` steps
    equals draws.TheirStream exactly, and their state after them equals a seeded
    compare_authors.py run's (written to `stream_seed<S>.json`); else UserError."""
    import numpy as np

    with tempfile.TemporaryDirectory() as workdir:
        images_path = os.path.join(workdir, "images.npy")
        np.save(images_path, images.astype(bool))
        initial, feeds = their_start(seed, images_path, repo, workdir, steps, log)
    checks = check_stream(feeds, images, seed)
    checks["state_after_steps_differs"] = check_against_run(
        feeds, seed, steps, os.path.join(out_dir, f"check_seed{seed}"), mnist_dir, repo, log
    )
    files.atomic_write_json(os.path.join(out_dir, f"stream_seed{seed}.json"), checks)
    log(f"seed {seed}: their stream reproduced: {checks}")
    if not all(checks[k] for k in ("z_sample", "x_sample", "z", "x")):
        raise UserError(f"seed {seed}: the reproduction of their stream differs: {checks}")
    if checks["state_after_steps_differs"]:
        raise UserError(
            f"seed {seed}: their worker's state after {steps} steps is not their seeded "
            f"run's: {checks['state_after_steps_differs']}"
        )
    return initial


def run_seed(seed, sides, markers, window, max_steps, out_dir, mnist_dir, repo, verify, log=print):
    """Both sides of one seed: the checks, ours on their inputs, their run. Returns a status."""
    from binarygan_tf.training import data
    from tools import wgan_markers as wm

    images = data.load_training_images(mnist_dir)
    if "check" in sides:
        verified_start(seed, images, out_dir, mnist_dir, repo, verify, log)
    if "ours" in sides and not wm.is_done(
        wm.read_record(out_dir, "ours", seed), markers, window, max_steps
    ):
        initial = verified_start(seed, images, out_dir, mnist_dir, repo, verify, log)
        run_ours(
            seed,
            initial,
            images,
            os.path.join(out_dir, wm.run_name("ours", seed)),
            wm.record_path(out_dir, "ours", seed),
            markers,
            window,
            max_steps,
            log,
        )
    if "theirs" in sides and not wm.is_done(
        wm.read_record(out_dir, "theirs", seed), markers, window, max_steps
    ):
        status = wm.run_theirs(
            seed,
            os.path.join(out_dir, wm.run_name("theirs", seed)),
            wm.record_path(out_dir, "theirs", seed),
            markers,
            window,
            max_steps,
            mnist_dir,
            repo,
            log,
        )
        if status != "done":
            return status
    return "done"


def main():
    from binarygan_tf import startup
    from binarygan_tf.authors import repository
    from tools import wgan_markers as wm

    f = flags.FLAGS
    check_only = f.sides == ["check"]
    if check_only:  # wgan_markers.settings knows only its own sides
        f.sides = list(wm.SIDES)
    seeds, sides, markers, window, max_steps = wm.settings()
    sides = ["check"] if check_only else sides
    os.makedirs(f.out_dir, exist_ok=True)
    status = "done"
    if not f.report_only:
        startup.quiet_tensorflow_import()
        repo = repository.resolve(f.authors_repo or repository.DEFAULT_REPO)
        for seed in seeds:
            status = run_seed(
                seed,
                sides,
                markers,
                window,
                max_steps,
                f.out_dir,
                f.mnist_dir,
                repo,
                f.verify_steps,
            )
            if status != "done":
                break
    records = [
        r for side in wm.SIDES for seed in seeds if (r := wm.read_record(f.out_dir, side, seed))
    ]
    print()
    print("ours = our train_step on THEIR initial state and stream (this tool); theirs = their run")
    print(wm.summary(records, markers) if records else f"no run recorded in {f.out_dir} yet")
    for seed in seeds:
        early = early_losses(
            os.path.join(f.out_dir, wm.run_name("ours", seed)),
            os.path.join(f.out_dir, wm.run_name("theirs", seed)),
        )
        if early is None:
            continue
        path = os.path.join(f.out_dir, f"early_losses_seed{seed}.json")
        files.atomic_write_json(path, early)
        print(
            f"seed {seed}: per-step critic losses agree to {early['max_diff_before_parting']:.1e} "
            f"until step {early['first_step_apart']} (the first of the first {EARLY_STEPS} to "
            f"differ by more than {PART:g} of the loss); {path}"
        )
    return {"done": 0, "interrupted": EXIT_INTERRUPTED}.get(status, 1)


if __name__ == "__main__":
    sys.path.insert(0, REPO_ROOT)  # `tools` as a package, when run as python tools/NAME.py
    from binarygan_tf.commands import cli

    define_flags()
    cli.run(main, doc=__doc__)
