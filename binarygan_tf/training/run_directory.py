"""The run directory: everything about the folder one training run lives in, in one module.

Why one module: training writes a run directory in several sessions (a run is cut off, resumed,
overwritten), from two trainers (ours in train_lib, the authors' code in authors/compare), and
the reproduction reads it back to decide what is left to do. Each of those used to carry its
own copy of a rule ("does this folder already hold a run?", "which file is the timing?"), and
copies drift: a check done outside the lock, a config.json written non-atomically, a timing
file with two names. Here each rule exists once, and every writer and reader goes through it.

Why no TensorFlow: the reproduction and the command line decide what to do (refuse a flag,
skip a finished run) from these files in milliseconds, before TensorFlow's seconds-long
start-up. What needs TensorFlow (restoring and saving checkpoints) stays in train_lib and
calls the file-level helpers here.

A run directory holds:

    config.json              every setting, the code that started the run and one record per
                             resume, so `--resume` and `binarygan export` rebuild the exact models
    samples/                 8x8 grids of samples and preactivated outputs for a fixed z
    logs/training_log.csv    one row per epoch (and one where a session was cut off)
    logs/train/              TensorBoard events, on the generator-step axis
    checkpoints/             tf.train checkpoints: weights, optimizer slots, generator step,
                             slope, random-generator states; the data position is the step
    generator/               the exported SavedModel (export.py), written last
    timing.json              wall time summed over the sessions that trained the run (runs
                             written before it was renamed have reproduce_timing.json)
    training.lock            held (flock) by the process training the run

A run of the authors' code (authors/compare.py) keeps their own logs/batch.log instead of our
training log, and the same config.json, checkpoints/, generator/, timing and lock names.
"""

import contextlib
import csv
import errno
import json
import os
import re
import shutil
import socket
import time

from binarygan_tf import files
from binarygan_tf.errors import UserError, unwritable_output
from binarygan_tf.model.contract import METADATA_FILE
from binarygan_tf.model.defaults import (
    CRITIC_STEPS,
    CRITIC_WARMUP_EVERY,
    CRITIC_WARMUP_STEPS,
    CRITIC_WARMUP_UNTIL,
    DEFAULT_FOLLOW,
)

# ================================================================== layout
# Training writes these names and the reproduction reads them back: both sides import them
# from here, so they cannot disagree.
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
# One name for the timing record, in a run directory and in a published folder alike
# (reproduction/publishing.py uses this one). Runs written before the rename have the old name,
# which is still read (and replaced by the new one at their next session).
TIMING_FILE = "timing.json"
LEGACY_TIMING_FILE = "reproduce_timing.json"
LOCK_FILE = "training.lock"
# The authors' code writes one row per generator step here (their trainer's log_batch).
AUTHORS_BATCH_LOG = os.path.join(LOG_DIR, "batch.log")
RUNS_DIR = "runs"


def default_run_dir(arch, neuron, objective, follow=DEFAULT_FOLLOW, prefix=""):
    """runs/[prefix]<arch>_<neuron>_<objective>, plus _<follow> when it is not the default:
    one folder per model, so two models never meet in one run directory by default."""
    name = f"{prefix}{arch}_{neuron}_{objective}"
    if follow != DEFAULT_FOLLOW:
        name += f"_{follow}"
    return os.path.join(RUNS_DIR, name)


# ================================================================== the lock
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

    Training goes through `training_session`, which holds it and checks it inside."""
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


# ================================================================== a training session
# Every trainer (ours, the authors' code) starts the same way, and the order matters: the
# "does it already hold a run?" check must happen inside the lock (checked before it, a run
# another process finished in the meantime would be trained over without --overwrite), the
# folder is emptied only while held, and the writability probe comes before an hour of
# training rather than after it. Callers may check earlier as well, to fail before loading
# data or TensorFlow (check_start is read-only), but only the check in here is the one that
# counts.
def check_start(run_dir, *, resume=False, overwrite=False):
    """Refuse (UserError) to start a new run on an old one unless `overwrite`, or to resume a
    run that has no checkpoint. Read-only."""
    if resume:
        require_checkpoint(run_dir)
    elif entries(run_dir) and not overwrite:
        raise UserError(
            f"{run_dir} already holds a run. Pass --resume to continue it, "
            f"--overwrite to replace it, or choose another --out_dir."
        )


def require_checkpoint(run_dir):
    if latest_checkpoint_step(run_dir) is None:
        raise UserError(
            f"--resume: {run_dir} has no checkpoint to resume from. Drop --resume "
            f"to start a new run there, or pass the right --out_dir."
        )


class Session:
    """The open training session `training_session` yields: `end(seconds)` closes it with the
    wall time it counts (default: since it began)."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.started = time.time()
        self.ended = False

    def end(self, seconds=None):
        end_session(self.run_dir, time.time() - self.started if seconds is None else seconds)
        self.ended = True


@contextlib.contextmanager
def training_session(run_dir, *, resume=False, overwrite=False):
    """Hold `run_dir` for the block and make it ready to train: checked inside the lock
    (check_start), emptied with `overwrite`, probed for a writable disk with room, and timed
    (begin_session). Yields the Session; a block that ends normally closes it (unless it did
    so itself). A block that raises leaves it open: the next session counts it up to its last
    checkpoint, the work that survived (begin_session)."""
    with hold(run_dir):
        check_start(run_dir, resume=resume, overwrite=overwrite)
        try:
            if overwrite and not resume:
                empty(run_dir)
            files.probe_writable(run_dir)
            begin_session(run_dir)
        except OSError as e:
            raise unwritable_output(run_dir, e) from None
        session = Session(run_dir)
        yield session
        if not session.ended:
            session.end()


# ================================================================== the stored config
# config.json is what a resume and an export rebuild the models from, so it is written
# atomically (a kill mid-write must not lose a run's settings) and a resume appends to its
# history instead of replacing it: a published number stays traceable to every commit that
# trained part of it.
def read_stored(run_dir):
    """The stored config.json of a run directory, as a dict."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise UserError(f"{run_dir} is not a run directory: it has no {CONFIG_FILE}.")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(
            f"{path} cannot be read ({e}); the run's settings are lost, start a new run."
        ) from None


def write_stored(run_dir, record):
    """Write config.json atomically."""
    files.atomic_write_json(os.path.join(run_dir, CONFIG_FILE), record)


def record_config(run_dir, settings, code, *, resumed_at=None, changes=None):
    """config.json of a run: its `settings`, the `code` (provenance.code_version()) that
    started it, and, when it is resumed at generator step `resumed_at`, one more record under
    "resumes" (that step, the settings changed {name: (old, new)}, the code that resumed it);
    the code that started the run stays the run's."""
    record = {**settings, **code}
    if resumed_at is not None:
        stored = read_stored(run_dir)
        record.update({k: stored[k] for k in ("git_commit", "git_dirty") if k in stored})
        record["resumes"] = [
            *stored.get("resumes", []),
            {
                "generator_step": resumed_at,
                **code,
                "changed": {name: list(pair) for name, pair in (changes or {}).items()},
            },
        ]
    write_stored(run_dir, record)
    return record


# ================================================================== checkpoints
# The checkpoint number is the generator step (train_lib saves with checkpoint_number=step),
# so the step of a run is known from the state file without TensorFlow. Two failures of a long
# run meet checkpoints: the newest one damaged (a disk error, a copy cut short), and a disk
# that fills up while one is written. train_lib handles both with TensorFlow; the file-level
# part (which files a failed save leaves, how much room a checkpoint takes) is here.
def latest_checkpoint_step(run_dir):
    """Generator step of the run's latest checkpoint, or None. Reads the `checkpoint` state
    file tf.train.CheckpointManager writes (`model_checkpoint_path: "ckpt-STEP"`)."""
    state = os.path.join(run_dir, CHECKPOINT_STATE)
    if not os.path.isfile(state):
        return None
    with open(state) as f:
        match = re.search(r'^model_checkpoint_path:\s*"[^"]*?-(\d+)"', f.read(), re.M)
    return int(match.group(1)) if match else None


def checkpoint_step(prefix):
    """The generator step in a checkpoint prefix such as RUN/checkpoints/ckpt-2186."""
    return int(prefix.rsplit("-", 1)[1])


def checkpoint_files(prefix):
    """The files and folders a checkpoint `prefix` consists of on disk, complete or partial:
    PREFIX.index, PREFIX.data-*, and the PREFIX_temp/ folder a save writes its shards into
    before renaming them."""
    folder, base = os.path.split(prefix)
    if not os.path.isdir(folder):
        return []
    return sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name in (f"{base}.index", f"{base}_temp") or name.startswith(f"{base}.data-")
    )


def remove_checkpoint_files(prefix):
    """Delete what a failed save of `prefix` left (see checkpoint_files)."""
    for path in checkpoint_files(prefix):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def checkpoint_bytes(prefix):
    """Bytes a complete checkpoint `prefix` takes on disk (0 if it has no files)."""
    return sum(os.path.getsize(p) for p in checkpoint_files(prefix) if os.path.isfile(p))


def is_disk_full(error):
    """Whether an OSError or a tf.errors.OpError (by its message) says the disk is full."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return type(error).__name__ == "ResourceExhaustedError" or any(
        s in text for s in ("No space left on device", "Disk quota exceeded")
    )


def checkpoint_not_written(run_dir, step, error, needed_bytes, kept):
    """The one-line UserError for a checkpoint save that failed (its partial files already
    removed): the folder, the room a checkpoint needs, the checkpoint still kept."""
    folder = os.path.join(run_dir, CHECKPOINT_DIR)
    if is_disk_full(error):
        reason = "the disk is full"
    else:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[-1]
    last = f"the last checkpoint, {kept}, is kept" if kept else "there is no earlier checkpoint"
    return UserError(
        f"cannot write the checkpoint of generator step {step} to {folder}: {reason} (a "
        f"checkpoint of this run needs {needed_bytes / 2**20:.1f} MiB there). The partial "
        f"files were removed and {last}; free some space, then continue with "
        f"--resume --out_dir={run_dir}."
    )


# ================================================================== timing
# A run cut off and resumed has no single clock, so the run directory records the wall time
# summed over the sessions that trained it (training_session opens and closes one around each
# training, ours and the authors'), counting a killed session up to its last checkpoint.
def read_timing(run_dir):
    """{"wall_seconds", "sessions"} of the run (zeros when it was never timed), plus
    "open_session" while a session runs (see begin_session)."""
    for name in (TIMING_FILE, LEGACY_TIMING_FILE):
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            with open(path) as f:
                return json.load(f)
    return {"wall_seconds": 0.0, "sessions": 0}


def _write_timing(run_dir, timing):
    files.atomic_write_json(os.path.join(run_dir, TIMING_FILE), timing)
    with contextlib.suppress(FileNotFoundError):  # an older run's: now carried over
        os.remove(os.path.join(run_dir, LEGACY_TIMING_FILE))


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


# ================================================================== what the reproduction reads
# Whether a run is finished, resumable or new, from its files alone (no TensorFlow), so
# deciding what is left to do is instant.
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


# What the critic loss of a loss curve is, per generator step:
# - before: the loss the step's last critic update was computed from, before that update is
#   applied; ours (trainer.critic_loop), and their step.log's line before each generator update;
# - after: the loss fetched with the generator update, after all the step's critic updates;
#   their batch.log (and step.log's generator-update line).
# They differ by what the last critic update did (docs/authors_code.md, "WGAN experiments"),
# so a figure must not draw one as the other.
CRITIC_LOSS_BEFORE_UPDATE = "before_last_critic_update"
CRITIC_LOSS_AFTER_UPDATES = "after_critic_updates"
AUTHORS_STEP_LOG = os.path.join(LOG_DIR, "step.log")


class LossCurve(list):
    """[(generator_step, d_loss, g_loss)] (a list, and equal to one) that says which critic
    loss its d_loss is: `quantity`, one of the CRITIC_LOSS_* names."""

    def __init__(self, rows=(), quantity=CRITIC_LOSS_BEFORE_UPDATE):
        super().__init__(rows)
        self.quantity = quantity


def authors_critic_count(counter):
    """Critic updates their loop runs before its generator step `counter` (0-based from the
    start of the session: their loop restarts its counter on resume). Their models.py's
    schedule, the one model/defaults.py names."""
    if counter < CRITIC_WARMUP_UNTIL or counter % CRITIC_WARMUP_EVERY == 0:
        return CRITIC_WARMUP_STEPS
    return CRITIC_STEPS


def authors_step_losses(run_dir):
    """Their step.log read per generator step: ([negated critic loss before the step's last
    critic update is applied], [negated critic loss fetched with the generator update]), one
    entry per complete generator step, or None without a step.log.

    Their loop (bgan/mnist/models.py) writes one line `global_step, -d_loss` per critic update,
    with the loss fetched together with `d_step` (so computed from the weights before it), then
    one for the generator update, with the loss fetched with `g_step`: `authors_critic_count(c)`
    + 1 lines for generator step c. The global steps must count up by one a line (they count
    both updates), which checks the schedule; a last step cut short (a killed run's buffered
    file) is dropped."""
    path = os.path.join(run_dir, AUTHORS_STEP_LOG)
    if not os.path.isfile(path):
        return None
    steps, values = [], []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            try:
                step, value = line.split(",")
                steps.append(int(step))
                values.append(float(value))
            except ValueError:  # a line cut short: the file ends here
                break
    before, after, i, counter = [], [], 0, 0
    while True:
        n = authors_critic_count(counter)
        if i + n + 1 > len(values):
            break
        if steps[i + n] - steps[i] != n:
            raise UserError(
                f"{path}: generator step {counter} does not span {n + 1} updates (global "
                f"steps {steps[i]}..{steps[i + n]}); not a log of their critic schedule."
            )
        before.append(values[i + n - 1])
        after.append(values[i + n])
        i += n + 1
        counter += 1
    return before, after


def _authors_batch_rows(run_dir):
    """Their batch.log's rows: [(epoch, negated critic loss, g_loss)], one per generator step."""
    rows = []
    with open(os.path.join(run_dir, AUTHORS_BATCH_LOG)) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            epoch, _, _, negative_critic_loss, g_loss = (float(x) for x in line.split(","))
            rows.append((int(epoch), negative_critic_loss, g_loss))
    return rows


def loss_curve(run_dir):
    """The run's LossCurve: (generator_step, d_loss, g_loss) per epoch, in step order, or an
    empty one without a log. Its d_loss is the loss of each generator step's last critic
    update, computed before that update is applied, wherever the logs hold it.

    Ours: logs/training_log.csv's epoch means (an older run's file has Keras' CSVLogger
    columns; a resumed one may hold a row where a session was cut off mid-epoch); the trainer
    logs exactly that loss. The authors' code: per generator step, their logs/step.log's line
    before the generator update (authors_step_losses), with g_loss and the epochs from
    logs/batch.log, averaged per epoch. Its generator-update lines must equal batch.log's
    loss column, which checks the parse. A run with batch.log only (their runs published
    before step.log was kept) gives batch.log's loss, fetched after all the step's critic
    updates: the curve's `quantity` says so."""
    ours = os.path.join(run_dir, TRAINING_LOG)
    if os.path.isfile(ours):
        with open(ours, newline="") as f:
            by_step = {
                int(float(row["generator_step"])): (float(row["d_loss"]), float(row["g_loss"]))
                for row in csv.DictReader(f)
                if row.get("generator_step") not in (None, "", "NA")
            }
        return LossCurve([(step, *by_step[step]) for step in sorted(by_step)])
    if not os.path.isfile(os.path.join(run_dir, AUTHORS_BATCH_LOG)):
        return LossCurve()
    rows = _authors_batch_rows(run_dir)
    quantity = CRITIC_LOSS_AFTER_UPDATES
    per_step = authors_step_losses(run_dir)
    if per_step is not None:
        before, after = per_step
        rows = rows[: len(before)]  # a killed run's files may end at different steps
        for k, (_, negative_critic_loss, _) in enumerate(rows):
            # one fetched value, printed with six decimals in both files: equal, or misread
            if after[k] != negative_critic_loss:
                raise UserError(
                    f"{os.path.join(run_dir, AUTHORS_STEP_LOG)}: generator step {k}'s "
                    f"generator-update line reads {after[k]}, batch.log "
                    f"{negative_critic_loss}; the step.log parse is off."
                )
        rows = [(epoch, before[k], g) for k, (epoch, _, g) in enumerate(rows)]
        quantity = CRITIC_LOSS_BEFORE_UPDATE
    epochs = {}
    for epoch, negative_critic_loss, g_loss in rows:
        epochs.setdefault(epoch, []).append((-negative_critic_loss, g_loss))
    curve, step = LossCurve(quantity=quantity), 0
    for epoch in sorted(epochs):
        values = epochs[epoch]
        step += len(values)
        curve.append(
            (
                step,
                sum(v[0] for v in values) / len(values),
                sum(v[1] for v in values) / len(values),
            )
        )
    return curve
