"""Keras callbacks for what happens between training steps: slope annealing, sample grids,
checkpoints, stopping on NaN or on Ctrl-C, the training log, TensorBoard and progress output.

`build_callbacks` assembles them for `train_lib.run_training`, in the one order that works:
several of them hand values to each other inside the same Keras hook (SlopeAnnealing writes
`logs["slope"]` that the CSV reads; the NaN guard flags a step that the checkpoint must then
not save), and Keras calls a hook on the callbacks in list order.

An "epoch" is always `steps_per_epoch` generator steps counted by the trainer's own counter,
not Keras' epoch index: a resumed run may start mid-epoch and a `--max_steps` run may end
mid-epoch, and neither must anneal the slope or write an epoch sample at a non-boundary.
Everything written to disk (rows, TensorBoard points, checkpoints, grids) is keyed on that
generator step, so a resumed run continues each of them where the checkpoint left off.
"""

import collections
import contextlib
import csv
import dataclasses
import math
import os
import signal
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from binarygan_tf.training import run_directory, sample_grids
from binarygan_tf.training.config import PROGRESS_MODES


def _step(trainer):
    return int(trainer.generator_step.numpy())


class SlopeAnnealing(keras.callbacks.Callback):
    """The neurons' sigmoid slope is multiplied by `rate` after each epoch (paper Sec. 4.2:
    1.1; code: config.py `slope_annealing_rate`), and logged.

    The slope is set from the generator step, `rate ** (epochs completed)`, rather than
    multiplied in place, so a resumed or extended run cannot apply an epoch's factor twice or
    miss it. After the last step of the run it keeps the value that step trained with: the
    authors' loop multiplies once more after the final epoch, which would export a generator
    (and draw its last grid) with 1.1^20 = 6.73, a slope it never trained with; the slides give
    6.1 (1.1^19) at the end of 20 epochs. Whether the generator uses the slope at all is the
    output neuron's `use_slope` (off in the authors'-code mode).
    """

    def __init__(self, rate, steps_per_epoch, total_steps):
        super().__init__()
        self.rate = rate
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps

    def slope_at(self, step):
        """The slope the generator step after `step` completed steps trains with."""
        return self.rate ** (min(step, max(self.total_steps - 1, 0)) // self.steps_per_epoch)

    def _update(self):
        self.model.slope.assign(self.slope_at(_step(self.model)))

    def on_train_begin(self, logs=None):
        self._update()

    def on_epoch_end(self, epoch, logs=None):
        step = _step(self.model)
        self._update()
        if logs is not None:
            logs["slope"] = float(self.model.slope.numpy())
            logs["generator_step"] = step


Grid = collections.namedtuple("Grid", "step samples preactivated")


class SampleGrids(keras.callbacks.Callback):
    """8x8 grids of samples and colour-mapped preactivated outputs for one fixed z.

    Schedule as the authors' sampler (models.py: `counter % 500 == 0 or (counter < 300 and
    counter % 100 == 0)`): before training, after 100 and 200 steps, every `every` steps, and
    at each epoch end. The last grid drawn stays in `last_grid`, so TensorBoard can show the
    same pictures without running the generator a second time.
    """

    def __init__(self, sample_dir, z, every, steps_per_epoch):
        super().__init__()
        self.sample_dir = sample_dir
        self.z = z
        self.every = every
        self.steps_per_epoch = steps_per_epoch
        self.last_grid = None
        self._start = None  # the generator step this session started at

    def _due(self, last, step):
        """Whether a scheduled step lies in (last, step]: with steps_per_execution > 1 the
        counter moves several steps per call, and the grid is drawn where it lands."""
        fixed = any(last < s <= step for s in (0, 100, 200))
        return fixed or bool(self.every and step // self.every > last // self.every)

    def write(self, tag):
        out = self.model.generator(self.z, training=False)
        samples = np.asarray(out["samples"])[..., 0]
        pre = np.asarray(out["preactivated"])[..., 0]
        step = _step(self.model)
        os.makedirs(self.sample_dir, exist_ok=True)
        sample_grids.save_sample_grid(
            os.path.join(self.sample_dir, f"{tag}.png"), samples, f"samples, generator step {step}"
        )
        sample_grids.save_preactivated_grid(
            os.path.join(self.sample_dir, f"{tag}_preactivated.png"),
            pre,
            f"preactivated outputs, generator step {step}",
        )
        self.last_grid = Grid(step, samples, pre)
        # A number to watch besides the pictures: the data's pixel density is 0.19.
        stats = os.path.join(self.sample_dir, "sample_stats.csv")
        new = not os.path.exists(stats)
        with open(stats, "a") as f:
            if new:
                f.write("generator_step,tag,sample_density,mean_preactivated\n")
            f.write(f"{step},{tag},{samples.mean():.5f},{pre.mean():.5f}\n")

    def on_train_begin(self, logs=None):
        step = _step(self.model)
        if self._start is None:
            self._start = step
        if step == 0:
            self.write("step_000000")

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        last = self.last_grid.step if self.last_grid else self._start
        if step != last and self._due(last, step):
            self.write(f"step_{step:06d}")

    def on_epoch_end(self, epoch, logs=None):
        step = _step(self.model)
        if step > 0 and step % self.steps_per_epoch == 0:
            self.write(f"epoch_{step // self.steps_per_epoch:03d}")


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop as soon as a logged loss is NaN or Inf, remembering the step.

    Keras' TerminateOnNaN looks only at a `loss` key, which a GAN does not have. The trainer's
    metrics are running means over the epoch, so once a step goes non-finite they stay so.
    """

    def __init__(self):
        super().__init__()
        self.failed_step = None
        self.failed_metric = None

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if not np.isfinite(float(value)):
                self.failed_step = _step(self.model)
                self.failed_metric = name
                self.model.stop_training = True
                return


class StopOnSignal(keras.callbacks.Callback):
    """Turn SIGINT/SIGTERM into "finish this step, then stop", so the run can checkpoint.

    A second Ctrl-C falls back to Python's default (KeyboardInterrupt) for a user who really
    wants out at once. The handlers stay installed across the run's fit() calls (one per
    epoch), so a Ctrl-C between two epochs is caught too; `restore` gives them back.
    """

    def __init__(self):
        super().__init__()
        self.received = None
        self._previous = {}

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_train_begin(self, logs=None):
        if self._previous:  # installed by an earlier fit() of this run
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                self._previous[sig] = signal.signal(sig, self._handle)

    def on_train_batch_end(self, batch, logs=None):
        if self.received:
            self.model.stop_training = True

    def restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Save a checkpoint every `every` generator steps and at each epoch boundary, unless
    training went non-finite.

    Why mid-epoch too: an epoch of the CNN takes minutes, and a SIGKILL (OOM killer, a closed
    laptop, a preempted machine) gets no chance to save; it now loses at most `every` steps.
    A mid-epoch checkpoint resumes exactly, because the data position is the generator step
    (data.make_training_dataset starts the stream at any step). The checkpoint number is the
    generator step, and the manager's `max_to_keep` bounds the disk used.

    `tf.train.CheckpointManager` writes the shards and index under temporary names and renames
    them, and updates its `checkpoint` state file last, so a kill at any moment leaves the
    previous complete checkpoint as the latest one.
    """

    def __init__(self, manager, steps_per_epoch, every, nonfinite_guard):
        super().__init__()
        self.manager = manager
        self.steps_per_epoch = steps_per_epoch
        self.every = every
        self.guard = nonfinite_guard
        self._last = None  # generator step of the last save (or of the start)

    def _save(self, step):
        if self.guard.failed_step is None and step != self._last:
            self.manager.save(checkpoint_number=step)
            self._last = step

    def on_train_begin(self, logs=None):
        # The start is already on disk (a resumed checkpoint) or not worth saving (step 0).
        self._last = _step(self.model)

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        # "Crossed a multiple of `every`" rather than "is a multiple": with
        # steps_per_execution > 1 the counter moves several steps per call.
        if self.every and step // self.every > self._last // self.every:
            self._save(step)

    def on_epoch_end(self, epoch, logs=None):
        step = _step(self.model)
        if step > 0 and step % self.steps_per_epoch == 0:
            self._save(step)


class TrainingLog(keras.callbacks.Callback):
    """logs/training_log.csv: one row per epoch end, and one where a run stops or is cut off
    mid-epoch, keyed on the generator step; appended to on resume.

    Not Keras' CSVLogger: without validation data it adds an empty `val_<name>` column for
    every metric (keras/src/callbacks/csv_logger.py: no `val_` key found -> `keys.extend(
    f"val_{k}" ...)`), and it numbers rows by Keras' epoch index, which a run resumed
    mid-epoch repeats. Columns: `generator_step`, `epoch` (generator steps / steps per
    epoch, so 0.625 is a row five steps into an eight-step epoch), then the logs' keys
    sorted: the trainer's epoch-mean metrics and what other callbacks added (`slope`).
    A file that already has a header keeps its columns (a resumed run has the same metrics).
    """

    def __init__(self, path, steps_per_epoch):
        super().__init__()
        self.path = path
        self.steps_per_epoch = steps_per_epoch

    def _existing_header(self):
        if not os.path.isfile(self.path):
            return None
        with open(self.path, newline="") as f:
            return next(csv.reader(f), None)

    def on_epoch_end(self, epoch, logs=None):
        step = _step(self.model)
        row = dict(logs or {})
        row.update(generator_step=step, epoch=round(step / self.steps_per_epoch, 4))
        header = self._existing_header()
        with open(self.path, "a", newline="") as f:
            if header is None:
                header = [
                    "generator_step",
                    "epoch",
                    *sorted(k for k in row if k not in ("generator_step", "epoch")),
                ]
                csv.writer(f).writerow(header)
            csv.DictWriter(f, header, restval="", extrasaction="ignore").writerow(row)


def _grid_image(values, cmap):
    """An 8x8 grid of [0, 1] images as one uint8 RGB picture, coloured like the PNGs."""
    tiled = np.ma.masked_invalid(sample_grids.tile(values))  # NaN between the images
    rgba = cmap(tiled)
    return (rgba[..., :3] * 255).round().astype(np.uint8)


class TensorBoardLogger(keras.callbacks.Callback):
    """TensorBoard events in `log_dir`, on the generator-step axis.

    Not Keras' TensorBoard callback, which writes one point per Keras epoch index (a run
    resumed mid-epoch writes a second point at index 0) and logs `model.optimizer`'s
    learning rate, a placeholder here: the trainer steps its own two optimizers.

    Scalars, every `every` generator steps and at the end of each epoch (and of a run that
    stops mid-epoch):
      the trainer's metrics (d_loss, g_loss, ...), each the mean over the generator steps
        since the previous point. Keras hands a callback the running means since the start
        of its epoch (fit resets the metrics at each epoch begin); the window mean follows
        from two of them, `(n * mean_n - m * mean_m) / (n - m)` (to float32 round-off), so
        with `every=1` these are the per-step values. A window never spans an epoch end.
      slope and the two optimizers' learning rates (`d_learning_rate`, `g_learning_rate`),
        the values after that step: at an epoch end the slope is already annealed, the same
        value the CSV row of that step holds.
    Images at each sample grid's step (the arrays `SampleGrids` just drew, coloured as its
    PNGs), with that grid's `sample_density`.

    A resumed run appends a new events file to the same directory and continues from its
    checkpoint's step; points a killed run wrote after its last checkpoint are written again
    with the same values.
    """

    def __init__(self, log_dir, every, optimizers, grids=None):
        super().__init__()
        self.log_dir = log_dir
        self.every = every
        self.optimizers = optimizers  # {tag: optimizer}
        self.grids = grids
        self._writer = None
        self._epoch_start = None  # generator step at the current epoch's start
        self._last_point = None  # generator step of the last scalar point
        self._last_image = None
        self._latest = (0, {})  # (steps this epoch, running means) at the last batch end
        self._at_point = (0, {})  # (steps this epoch, running sums) at the last point

    def on_train_begin(self, logs=None):
        # One writer for the run's fit() calls (one per epoch, train_lib.plan_epochs), so a
        # session writes one events file; `close` ends it.
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        self._last_point = _step(self.model)
        self._log_grid()  # the step-0 grid, drawn in SampleGrids.on_train_begin

    def on_epoch_begin(self, epoch, logs=None):
        # fit() has just reset the metrics: the running means restart from zero steps.
        self._latest = self._at_point = (0, {})
        self._epoch_start = _step(self.model)

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        # Steps into the epoch from the trainer's counter, not from Keras' `batch`: with
        # steps_per_execution > 1 Keras reports the execution's last index, which the
        # epoch's last, shorter execution overshoots.
        count = step - self._epoch_start
        self._latest = (count, dict(logs or {}))
        # The epoch's last batch leaves its point to on_epoch_end, which runs after the slope
        # is annealed, so a step has one point holding its final values.
        steps = (self.params or {}).get("steps")
        last_batch = steps is not None and count >= steps
        if step // self.every > self._last_point // self.every and not last_batch:
            self._write_scalars(step)
        self._log_grid()

    def on_epoch_end(self, epoch, logs=None):
        step = _step(self.model)
        if step != self._last_point:
            self._write_scalars(step)
        self._log_grid()

    def on_train_end(self, logs=None):
        self._writer.flush()

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _write_scalars(self, step):
        count, means = self._latest
        base_count, base_sums = self._at_point
        sums = {name: float(mean) * count for name, mean in means.items()}
        with self._writer.as_default(step=step):
            if count > base_count:
                for name, total in sums.items():
                    tf.summary.scalar(
                        name, (total - base_sums.get(name, 0.0)) / (count - base_count)
                    )
            tf.summary.scalar("slope", float(self.model.slope.numpy()))
            for tag, optimizer in self.optimizers.items():
                tf.summary.scalar(tag, float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
        self._at_point = (count, sums)
        self._last_point = step

    def _log_grid(self):
        grid = self.grids.last_grid if self.grids is not None else None
        if grid is None or grid.step == self._last_image:
            return
        with self._writer.as_default(step=grid.step):
            tf.summary.image(
                "samples",
                _grid_image(grid.samples, sample_grids.BINARY_CMAP)[None],
                description="8x8 samples for the fixed z (white = 1)",
            )
            tf.summary.image(
                "preactivated",
                _grid_image(grid.preactivated, sample_grids.PREACTIVATED_CMAP)[None],
                description="preactivated outputs in [0, 1] for the fixed z "
                "(viridis: dark 0, yellow 1)",
            )
            tf.summary.scalar(
                "sample_density",
                float(grid.samples.mean()),
                description="mean pixel of the grid's samples (data: 0.19)",
            )
        self._last_image = grid.step


# ------------------------------------------------------------------ progress output
def resolve_progress(mode, stream=None):
    """ "auto" -> "bar" on a terminal, else "line" (a log file gets no carriage returns or
    colour codes); "bar", "line", "off" stay. `stream` defaults to sys.stdout at call time,
    the stream Keras' progress bar writes to (bound late, so a redirected sys.stdout counts)."""
    if mode not in PROGRESS_MODES:
        raise ValueError(f"progress mode {mode!r} is not one of {', '.join(PROGRESS_MODES)}")
    if mode != "auto":
        return mode
    stream = sys.stdout if stream is None else stream
    try:
        return "bar" if stream.isatty() else "line"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return "line"


class ProgressBar(keras.callbacks.ProgbarLogger):
    """Keras' live progress bar, ending where the epoch really ended.

    Keras' ProgbarLogger finalizes the bar at the epoch's target step count in on_epoch_end
    (`_finalize_progbar`: `progbar.update(self.target, ...)`), so after Ctrl-C or a NaN stop
    it shows the whole epoch as done (docs/robustness.md); this one finalizes at the steps
    actually run. The "Epoch k/K" header counts the whole run's epochs (`epochs`),
    not the current fit() call's, which differ when a resumed run first finishes an epoch.
    fit() is called with verbose=0 and this callback in the list: progress output is its alone.
    """

    def __init__(self, epochs):
        super().__init__()
        self.total_epochs = epochs

    def set_params(self, params):
        super().set_params(params)
        self.verbose = 1
        self.epochs = self.total_epochs

    def on_train_batch_end(self, batch, logs=None):
        # Keras reports an execution's last index, which the epoch's last, shorter
        # execution (steps_per_execution > 1) overshoots.
        super().on_train_batch_end(min(batch, self.target - 1) if self.target else batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.progbar is not None:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=True)


def _format_value(value):
    value = float(value)
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


class EpochLines(keras.callbacks.Callback):
    """One plain line per epoch, for log files: a live bar's carriage returns and colour
    codes make a file unreadable, and Keras' verbose=2 adds an "Epoch k/K" line to each.

    `Epoch 2/20 - step 2186 - 1093 steps in 42s (39ms/step) - d_loss: ... - slope: 1.1000`;
    a run that stops mid-epoch ends its last line with "- stopped".
    """

    def __init__(self, epochs, stream=None):
        super().__init__()
        self.total_epochs = epochs
        self.stream = stream
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = (_step(self.model), time.monotonic())

    def on_epoch_end(self, epoch, logs=None):
        step = _step(self.model)
        steps, seconds = step - self._start[0], time.monotonic() - self._start[1]
        per_step = f"{1000 * seconds / steps:.0f}ms/step" if steps else "-"
        parts = [
            f"Epoch {epoch + 1}/{self.total_epochs}",
            f"step {step}",
            f"{steps} steps in {seconds:.0f}s ({per_step})",
        ]
        parts += [
            f"{k}: {_format_value(v)}" for k, v in (logs or {}).items() if k != "generator_step"
        ]
        if self.model.stop_training:
            parts.append("stopped")
        stream = sys.stdout if self.stream is None else self.stream
        stream.write(" - ".join(parts) + "\n")
        stream.flush()


# ------------------------------------------------------------------ assembly
@dataclasses.dataclass
class TrainingCallbacks:
    """The callbacks of a run, in order, and the two whose state run_training reads after
    fit() returns (why it stopped)."""

    callbacks: list
    guard: StopOnNonFinite
    stopper: StopOnSignal

    def close(self):
        """After the last fit() call, also when one raised (Keras then skips on_train_end):
        the signal handlers go back, the TensorBoard events file is closed."""
        self.stopper.restore()
        for callback in self.callbacks:
            if isinstance(callback, TensorBoardLogger):
                callback.close()


def build_callbacks(
    trainer,
    run_dir,
    *,
    steps_per_epoch,
    total_steps,
    slope_annealing_rate,
    sample_every,
    fixed_z,
    checkpoint_manager,
    checkpoint_every,
    tensorboard,
    scalars_every,
    progress,
):
    """The callbacks of one run, ordered so that each runs after those whose results it uses.

    Keras calls every hook (on_train_begin, on_train_batch_end, on_epoch_end, ...) on the
    callbacks in list order, and several of these pass values along inside one hook; the
    list is therefore built step by step below, each entry saying what it must follow.
    `progress` is one of PROGRESS_MODES ("auto" is resolved here). Pass the list to fit()
    with verbose=0: progress output comes from the list, and Keras adds its own
    ProgbarLogger whenever verbose is not 0 and the list holds none (as with "off").
    """
    log_dir = os.path.join(run_dir, run_directory.LOG_DIR)
    os.makedirs(log_dir, exist_ok=True)
    epochs = max(1, math.ceil(total_steps / steps_per_epoch))
    guard, stopper = StopOnNonFinite(), StopOnSignal()
    callbacks = []
    # 1. Signals first: its on_train_begin installs the handler before the others' start-up
    #    work (the step-0 grid), so a Ctrl-C then already means "stop after this step".
    callbacks.append(stopper)
    # 2. The NaN guard before anything that keeps a step: in on_train_batch_end it flags a
    #    non-finite step, and the checkpoint callback (5) reads that flag in the same hook and
    #    at the epoch end that follows, so a NaN step is never checkpointed.
    callbacks.append(guard)
    # 3. Slope annealing before everything that reads the slope: on_train_begin sets it from
    #    the step before the step-0 grid is drawn; on_epoch_end anneals it and writes
    #    logs["slope"] and logs["generator_step"], which the CSV (6), TensorBoard (7) and the
    #    progress output (8) read in the same hook, and the epoch checkpoint (5) then holds
    #    the annealed slope, the value a resumed run sets from the step.
    callbacks.append(SlopeAnnealing(slope_annealing_rate, steps_per_epoch, total_steps))
    # 4. Sample grids before TensorBoard (7), which logs the grid just drawn as images.
    grids = SampleGrids(
        os.path.join(run_dir, run_directory.SAMPLES_DIR), fixed_z, sample_every, steps_per_epoch
    )
    callbacks.append(grids)
    # 5. Checkpoints after the guard (2) and the slope (3), see there.
    callbacks.append(
        PeriodicCheckpoint(checkpoint_manager, steps_per_epoch, checkpoint_every, guard)
    )
    # 6. The CSV after the slope (3): its row holds logs["slope"].
    callbacks.append(
        TrainingLog(os.path.join(run_dir, run_directory.TRAINING_LOG), steps_per_epoch)
    )
    # 7. TensorBoard after the slope (3) and the grids (4).
    if tensorboard:
        callbacks.append(
            TensorBoardLogger(
                os.path.join(run_dir, run_directory.TENSORBOARD_DIR),
                scalars_every,
                {"d_learning_rate": trainer.d_optimizer, "g_learning_rate": trainer.g_optimizer},
                grids=grids,
            )
        )
    # 8. Progress last: its line shows the logs after the others added to them, and it
    #    prints once the step's other work (a grid, a checkpoint) is done.
    mode = resolve_progress(progress)
    if mode == "bar":
        callbacks.append(ProgressBar(epochs))
    elif mode == "line":
        callbacks.append(EpochLines(epochs))
    return TrainingCallbacks(callbacks, guard, stopper)
