"""Where one run of the reproduction stands on disk: finished, resumable or new, and its time.

A run directory (run_layout) records the wall time summed over the sessions that trained it,
because a run cut off and resumed has no single clock (train_lib opens and closes a session
around each training; compare_authors.py does the same for the authors' code). Nothing here
imports TensorFlow, so deciding what is left to do is instant.
"""

import csv
import json
import os
import time

from binarygan_tf import files
from binarygan_tf.errors import UserError
from binarygan_tf.model.contract import METADATA_FILE
from binarygan_tf.training import run_layout
from binarygan_tf.training.run_layout import (
    AUTHORS_BATCH_LOG,
    CHECKPOINT_STATE,
    GENERATOR_DIR,
    TIMING_FILE,
    TRAINING_LOG,
)


def target_steps(config, num_images):
    """Generator steps a finished run of `config` has on a data set of `num_images`."""
    from binarygan_tf.training import data

    total = data.steps_per_epoch(num_images, config.batch_size) * config.epochs
    return min(total, config.max_steps) if config.max_steps else total


def generator_metadata(generator_dir):
    """binarygan.json of an exported generator (what it is, its step), or None if absent."""
    path = os.path.join(generator_dir, METADATA_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def exported_step(run_dir):
    """Generator step of the exported generator in `run_dir`, or None if there is none."""
    metadata = generator_metadata(os.path.join(run_dir, GENERATOR_DIR))
    return None if metadata is None else metadata.get("generator_step")


def trained_step(run_dir):
    """Generator step of the run's latest checkpoint (0 when it has none)."""
    return run_layout.latest_checkpoint_step(run_dir) or 0


def state(config, num_images):
    """ "done", "resume" or "new" for the run directory of `config`."""
    target = target_steps(config, num_images)
    step = exported_step(config.run_dir)
    if step is not None and step >= target:
        if step > target:
            raise UserError(
                f"{config.run_dir} was trained for {step} generator steps, more "
                f"than this profile's {target}; use another --runs_dir."
            )
        return "done"
    if run_layout.latest_checkpoint_step(config.run_dir) is not None:
        return "resume"
    return "new"


def read_timing(run_dir):
    """{"wall_seconds", "sessions"} of the run (zeros when the reproduction never timed it),
    plus "open_session" while a session runs (see begin_session)."""
    path = os.path.join(run_dir, TIMING_FILE)
    if not os.path.isfile(path):
        return {"wall_seconds": 0.0, "sessions": 0}
    with open(path) as f:
        return json.load(f)


def _write_timing(run_dir, timing):
    files.atomic_write_json(os.path.join(run_dir, TIMING_FILE), timing)


def _last_checkpoint_time(run_dir):
    """When the run last saved a checkpoint: the mtime of the `checkpoint` state file, which
    both tf.train.CheckpointManager (ours) and tf.train.Saver (the authors') rewrite on every
    save; None before the first save."""
    state = os.path.join(run_dir, CHECKPOINT_STATE)
    return os.path.getmtime(state) if os.path.isfile(state) else None


def begin_session(run_dir):
    """Mark a training session open, first counting a session that was killed without
    closing (a machine or session cut off, SIGKILL): its time up to its last checkpoint is the
    work that survived, and is added with `cut_sessions` incremented, instead of being lost."""
    timing = read_timing(run_dir)
    cut = timing.pop("open_session", None)
    if cut is not None:
        saved = _last_checkpoint_time(run_dir)
        if saved is not None and saved > cut["started"]:
            timing["wall_seconds"] += saved - cut["started"]
            timing["sessions"] += 1
            timing["cut_sessions"] = timing.get("cut_sessions", 0) + 1
    timing["open_session"] = {"started": time.time()}
    _write_timing(run_dir, timing)


def end_session(run_dir, seconds):
    """Close the open session (if any), counting `seconds` of wall time for it."""
    timing = read_timing(run_dir)
    timing.pop("open_session", None)
    timing["wall_seconds"] += seconds
    timing["sessions"] += 1
    _write_timing(run_dir, timing)


def loss_curve(run_dir):
    """[(generator_step, d_loss, g_loss)] per epoch, in step order, or [] without a log.

    Ours: logs/training_log.csv's epoch means (an older run's file has Keras' CSVLogger
    columns; a resumed one may hold a row where a session was cut off mid-epoch). The
    authors' code: their logs/batch.log, one row per generator step (`epoch, batch, time,
    negative_critic_loss, g_loss`, the losses fetched with the generator update), averaged
    per epoch, so both curves are epoch means of the same two losses."""
    ours = os.path.join(run_dir, TRAINING_LOG)
    if os.path.isfile(ours):
        with open(ours, newline="") as f:
            by_step = {
                int(float(row["generator_step"])): (float(row["d_loss"]), float(row["g_loss"]))
                for row in csv.DictReader(f)
                if row.get("generator_step") not in (None, "", "NA")
            }
        return [(step, *by_step[step]) for step in sorted(by_step)]
    theirs = os.path.join(run_dir, AUTHORS_BATCH_LOG)
    if not os.path.isfile(theirs):
        return []
    epochs = {}
    with open(theirs) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            epoch, _, _, negative_critic_loss, g_loss = (float(x) for x in line.split(","))
            epochs.setdefault(int(epoch), []).append((-negative_critic_loss, g_loss))
    curve, step = [], 0
    for epoch in sorted(epochs):
        rows = epochs[epoch]
        step += len(rows)
        curve.append(
            (step, sum(r[0] for r in rows) / len(rows), sum(r[1] for r in rows) / len(rows))
        )
    return curve
