"""The run directory: one concept, one module. What a run directory holds and every rule about
it: its layout (the names inside it, which training writes and the reproduction reads back),
the lock (one trainer per run directory), the checkpoint steps, the timing over sessions, the
loss curve and the exported generator's metadata as the reproduction reads them. It imports
no TensorFlow, so deciding what is left to do is instant.

Training writes these (train_lib, callbacks), and the reproduction reads them back without
TensorFlow (run_state, publishing), so both sides must agree on every name; this module is
what they agree on, and it imports nothing heavier than `os`. A run directory holds
everything about one run:

    config.json              every setting, so `--resume` and `binarygan export` can rebuild
                             the exact models
    samples/                 8x8 grids of samples and preactivated outputs for a fixed z
    logs/training_log.csv    one row per epoch (and one where a session was cut off)
    logs/train/              TensorBoard events, on the generator-step axis
    checkpoints/             tf.train checkpoints: weights, optimizer slots, generator step,
                             slope, random-generator states; the data position is the step
    generator/               the exported SavedModel (export.py), written last
    reproduce_timing.json    wall time summed over the sessions that trained the run
    training.lock            held (flock) by the process training the run (run_lock)

A run of the authors' code (authors/compare.py) keeps their own logs/batch.log instead of our
training log, and the same checkpoints/, generator/ and timing names.
"""

import contextlib
import csv
import json
import os
import re
import shutil
import socket
import time

from binarygan_tf import files
from binarygan_tf.errors import UserError, unwritable_output
from binarygan_tf.model.contract import METADATA_FILE

# ------------------------------------------------------------------ layout
CONFIG_FILE = "config.json"
SAMPLES_DIR = "samples"
LOG_DIR = "logs"
TRAINING_LOG = os.path.join(LOG_DIR, "training_log.csv")
TENSORBOARD_DIR = os.path.join(LOG_DIR, "train")
CHECKPOINT_DIR = "checkpoints"
# The state file tf.train.CheckpointManager (ours) and tf.train.Saver (the authors') rewrite
# on every save; it names the latest checkpoint.
CHECKPOINT_STATE = os.path.join(CHECKPOINT_DIR, "checkpoint")
GENERATOR_DIR = "generator"
# The name is historical: the reproduction introduced it, every run writes it now.
TIMING_FILE = "reproduce_timing.json"
LOCK_FILE = "training.lock"
# The authors' code writes one row per generator step here (their trainer's log_batch).
AUTHORS_BATCH_LOG = os.path.join(LOG_DIR, "batch.log")


def latest_checkpoint_step(run_dir):
    """Generator step of the run's latest checkpoint, or None. Reads the `checkpoint` state
    file tf.train.CheckpointManager writes (`model_checkpoint_path: "ckpt-STEP"`), whose
    number is the generator step (train_lib saves with checkpoint_number=step)."""
    state = os.path.join(run_dir, CHECKPOINT_STATE)
    if not os.path.isfile(state):
        return None
    with open(state) as f:
        match = re.search(r'^model_checkpoint_path:\s*"[^"]*?-(\d+)"', f.read(), re.M)
    return int(match.group(1)) if match else None


def checkpoint_step(prefix):
    """The generator step in a checkpoint prefix such as RUN/checkpoints/ckpt-2186."""
    return int(prefix.rsplit("-", 1)[1])


# ------------------------------------------------------------------ the lock
# One trainer per run directory at a time.
#
# Two processes training the same run directory would interleave their checkpoints and logs and
# leave a run that is neither one's, and `--overwrite` (or the reproduction starting a run
# afresh) would delete a run another process is in the middle of. That happens in practice: a
# job array resubmitted while its first attempt still runs, two shells started on the same
# `--out_dir`, a second `reproduce.py` beside a first. So whoever trains holds an exclusive
# `fcntl.flock` on the run's lock file for as long as it trains.
#
# flock, not a "pid file": the kernel drops the lock when the holder dies however it dies
# (SIGKILL, a machine cut off), so a dead trainer never leaves a stale lock to clean up. The
# file itself stays (deleting it would let a second process lock a new file while the first
# still holds the old one); while held it names its holder for the error message. Where flock
# is missing (Windows) runs are not locked.
try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None


class RunLocked(UserError):
    """Another live process is training this run directory."""

    def __init__(self, run_dir, holder):
        self.run_dir = run_dir
        self.holder = holder
        super().__init__(
            f"{run_dir} is being trained by another process ({holder}). Wait for it to "
            f"finish (or stop it), or choose another --out_dir."
        )


def _describe(record):
    if not record:
        return "holder unknown"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.get("since", 0)))
    return f"pid {record.get('pid')} on {record.get('host')}, since {since}"


def _read(fd):
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "null")
    except ValueError:
        return None


@contextlib.contextmanager
def hold(run_dir):
    """Hold the run directory (creating it) for the block; RunLocked if another process does.

    Inside the block, `empty(run_dir)` is the safe way to start the run afresh."""
    try:
        os.makedirs(run_dir, exist_ok=True)
        fd = os.open(os.path.join(run_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise unwritable_output(run_dir, e) from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunLocked(run_dir, _describe(_read(fd))) from None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        yield
        os.ftruncate(fd, 0)  # released: nobody to name
    finally:
        os.close(fd)  # closing drops the flock


def entries(run_dir):
    """The run directory's entries but the lock file ([] if it does not exist): what decides
    whether a directory already holds a run."""
    if not os.path.isdir(run_dir):
        return []
    return sorted(n for n in os.listdir(run_dir) if n != LOCK_FILE)


def empty(run_dir):
    """Delete everything in a held run directory but its lock file (`--overwrite`)."""
    for name in entries(run_dir):
        path = os.path.join(run_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


# ------------------------------------------------------------------ state, timing, losses
# Where one run of the reproduction stands on disk: finished, resumable or new, and its time.
#
# A run directory (run_layout) records the wall time summed over the sessions that trained it,
# because a run cut off and resumed has no single clock (train_lib opens and closes a session
# around each training; compare_authors.py does the same for the authors' code). Nothing here
# imports TensorFlow, so deciding what is left to do is instant.
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
    return latest_checkpoint_step(run_dir) or 0


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
    if latest_checkpoint_step(config.run_dir) is not None:
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
