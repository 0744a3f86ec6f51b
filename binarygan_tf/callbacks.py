"""Keras callbacks for what happens between training steps: slope annealing, sample grids,
checkpoints, stopping on NaN or on Ctrl-C.

An "epoch" is always `steps_per_epoch` generator steps counted by the trainer's own counter,
not Keras' epoch index: a resumed run may start mid-epoch and a `--max_steps` run may end
mid-epoch, and neither must anneal the slope or write an epoch sample at a non-boundary.
"""

import os
import signal

import keras
import numpy as np

from binarygan_tf import sample_grids


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


class SampleGrids(keras.callbacks.Callback):
    """8x8 grids of samples and colour-mapped preactivated outputs for one fixed z.

    Schedule as the authors' sampler (models.py: `counter % 500 == 0 or (counter < 300 and
    counter % 100 == 0)`): before training, after 100 and 200 steps, every `every` steps, and
    at each epoch end.
    """

    def __init__(self, sample_dir, z, every, steps_per_epoch):
        super().__init__()
        self.sample_dir = sample_dir
        self.z = z
        self.every = every
        self.steps_per_epoch = steps_per_epoch
        self._last_written = None

    def _due(self, step):
        return step in (0, 100, 200) or (self.every and step % self.every == 0)

    def write(self, tag):
        out = self.model.generator(self.z, training=False)
        samples = np.asarray(out["samples"])[..., 0]
        pre = np.asarray(out["preactivated"])[..., 0]
        step = _step(self.model)
        os.makedirs(self.sample_dir, exist_ok=True)
        sample_grids.save_sample_grid(os.path.join(self.sample_dir, f"{tag}.png"), samples,
                               f"samples, generator step {step}")
        sample_grids.save_preactivated_grid(os.path.join(self.sample_dir, f"{tag}_preactivated.png"),
                                     pre, f"preactivated outputs, generator step {step}")
        self._last_written = step
        # A number to watch besides the pictures: the data's pixel density is 0.19.
        stats = os.path.join(self.sample_dir, "sample_stats.csv")
        new = not os.path.exists(stats)
        with open(stats, "a") as f:
            if new:
                f.write("generator_step,tag,sample_density,mean_preactivated\n")
            f.write(f"{step},{tag},{samples.mean():.5f},{pre.mean():.5f}\n")

    def on_train_begin(self, logs=None):
        step = _step(self.model)
        if step == 0:
            self.write("step_000000")

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        if step != self._last_written and self._due(step):
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
    wants out at once.
    """

    def __init__(self):
        super().__init__()
        self.received = None
        self._previous = {}

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_train_begin(self, logs=None):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass

    def on_train_batch_end(self, batch, logs=None):
        if self.received:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


class EpochCheckpoint(keras.callbacks.Callback):
    """Save a checkpoint at each epoch boundary, unless training went non-finite.

    `tf.train.CheckpointManager` writes the shards and index under temporary names and renames
    them, and updates its `checkpoint` state file last, so a kill at any moment leaves the
    previous complete checkpoint as the latest one.
    """

    def __init__(self, manager, steps_per_epoch, nonfinite_guard):
        super().__init__()
        self.manager = manager
        self.steps_per_epoch = steps_per_epoch
        self.guard = nonfinite_guard

    def on_epoch_end(self, epoch, logs=None):
        step = _step(self.model)
        if self.guard.failed_step is None and step > 0 and step % self.steps_per_epoch == 0:
            self.manager.save(checkpoint_number=step)
