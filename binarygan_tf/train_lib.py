"""Training as a library: `run_training(TrainConfig(...))` does what `train.py` does.

The entry point only turns flags into a `TrainConfig`; tests and `reproduce.py` call this
module directly. A run directory holds everything about one run:

    config.json      every setting, so `--resume` and `python -m binarygan_tf.export` can
                     rebuild the exact models
    samples/         8x8 grids of samples and preactivated outputs for a fixed z
    logs/            training_log.csv (per epoch) and TensorBoard events
    checkpoints/     tf.train checkpoints: weights, optimizer slots, generator step, slope,
                     random-generator states; the data position is the generator step
    generator/       the exported SavedModel (export.py), written last
"""

import dataclasses
import json
import math
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from binarygan_tf import callbacks as cbs
from binarygan_tf import data, export, flag_defs, networks, objectives, provenance, seeds
from binarygan_tf.errors import TrainingFailed, UserError
from binarygan_tf.trainer import CriticSchedule

# Defaults that a measurement settles (docs/authors_code.md, docs/performance.md).
DEFAULT_BN_MODE = "code"  # measured: docs/authors_code.md "Which default"
# XLA per architecture (docs/performance.md): it speeds up the MLP step; on the CNN, XLA:CPU
# runs the convolutions of five critic updates inside the critic tf.while_loop 36x slower than
# unrolled (12.3 s vs 0.34 s; `python bench/xla_cnn.py`), and even unrolled 2x slower than
# TensorFlow's oneDNN kernels, so the CNN stays on the default path.
DEFAULT_JIT_COMPILE = {"mlp": True, "cnn": False}
DEFAULT_STEPS_PER_EXECUTION = 1


@dataclasses.dataclass
class TrainConfig:
    neuron: str = "dbn"
    objective: str = "wgan-gp"
    arch: str = "mlp"
    epochs: int = 20
    batch_size: int = 64
    seed: int = 0
    out_dir: str | None = None
    max_steps: int | None = None
    resume: bool = False
    overwrite: bool = False
    mnist_dir: str | None = None
    tfds_data_dir: str | None = None
    critic_steps: int = 5
    critic_warmup_steps: int = 100
    critic_warmup_until: int = 25
    critic_warmup_every: int = 500
    slope_annealing_rate: float = 1.1
    bn_mode: str | None = None
    jit_compile: bool | None = None
    steps_per_execution: int | None = None
    mixed_precision: str = "off"
    sample_every: int = 500
    tensorboard: bool = True
    progress: str = "bar"

    @classmethod
    def from_flags(cls, flag_values):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{n: flag_values[n].value for n in names if n in flag_values})

    @classmethod
    def load(cls, run_dir):
        path = os.path.join(run_dir, "config.json")
        if not os.path.isfile(path):
            raise UserError(f"{run_dir} is not a run directory: it has no config.json.")
        with open(path) as f:
            stored = json.load(f)
        names = {f.name for f in dataclasses.fields(cls)}
        config = cls(**{k: v for k, v in stored.items() if k in names})
        config.out_dir = run_dir
        return config

    # -- resolved values
    @property
    def run_dir(self):
        if self.out_dir:
            return self.out_dir
        name = f"{self.arch}_{self.neuron}_{self.objective}"
        if self.resolved_bn_mode != DEFAULT_BN_MODE:
            name += f"_{self.resolved_bn_mode}bn"
        return os.path.join("runs", name)

    @property
    def resolved_bn_mode(self):
        return self.bn_mode or DEFAULT_BN_MODE

    @property
    def resolved_jit_compile(self):
        if self.jit_compile is None:
            return DEFAULT_JIT_COMPILE.get(self.arch, False)
        return self.jit_compile

    @property
    def resolved_steps_per_execution(self):
        return self.steps_per_execution or DEFAULT_STEPS_PER_EXECUTION

    def validate(self):
        """Raise UserError naming the first bad setting and how to fix it."""
        choices = dict(neuron=flag_defs.NEURONS, objective=flag_defs.OBJECTIVES,
                       arch=flag_defs.ARCHS, progress=flag_defs.PROGRESS_MODES,
                       mixed_precision=("off", "mixed_float16", "mixed_bfloat16"))
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UserError(f"--{name}={getattr(self, name)!r} is not one of "
                                f"{', '.join(allowed)}.")
        if self.bn_mode not in (None, *flag_defs.BN_MODES):
            raise UserError(f"--bn_mode={self.bn_mode!r} is not one of paper, code.")
        positive = ["epochs", "batch_size", "critic_steps", "critic_warmup_steps",
                    "critic_warmup_every", "sample_every"]
        for name in positive + ["max_steps", "steps_per_execution"]:
            value = getattr(self, name)
            if (value is not None or name in positive) and (value is None or value < 1):
                raise UserError(f"--{name} must be a positive integer, got {value}.")
        if self.critic_warmup_until < 0:
            raise UserError(f"--critic_warmup_until must be >= 0, got "
                            f"{self.critic_warmup_until}.")
        if not (self.slope_annealing_rate > 0 and math.isfinite(self.slope_annealing_rate)):
            raise UserError(f"--slope_annealing_rate must be a positive number (1.0 turns "
                            f"annealing off), got {self.slope_annealing_rate}.")
        if self.resume and self.overwrite:
            raise UserError("--resume and --overwrite contradict each other; pick one.")

    def to_json(self):
        d = dataclasses.asdict(self)
        d.update(run_dir=self.run_dir, bn_mode=self.resolved_bn_mode,
                 jit_compile=self.resolved_jit_compile,
                 steps_per_execution=self.resolved_steps_per_execution)
        return d


@dataclasses.dataclass
class TrainResult:
    run_dir: str
    generator_step: int
    slope: float
    history: dict
    wall_seconds: float
    status: str  # "completed", "interrupted"
    generator_path: str | None


# ------------------------------------------------------------------ building blocks
def build_trainer(config):
    """Generator, discriminator and trainer for `config`, compiled, optimizer slots built."""
    bn_mode = config.resolved_bn_mode
    d_batch_norm, clip = objectives.discriminator_options(config.objective)
    generator = networks.build_generator(config.arch, config.neuron, bn_mode, seed=config.seed)
    discriminator = networks.build_discriminator(config.arch, d_batch_norm, bn_mode,
                                                 weight_clip=clip, seed=config.seed)
    schedule = CriticSchedule(config.critic_steps, config.critic_warmup_steps,
                              config.critic_warmup_until, config.critic_warmup_every)
    trainer = objectives.TRAINERS[config.objective](generator, discriminator,
                                                    schedule=schedule, seed=config.seed)
    fp16 = config.mixed_precision == "mixed_float16"
    trainer.compile(d_optimizer=objectives.make_optimizer(config.objective, bn_mode, fp16),
                    g_optimizer=objectives.make_optimizer(config.objective, bn_mode, fp16),
                    jit_compile=config.resolved_jit_compile,
                    steps_per_execution=config.resolved_steps_per_execution)
    trainer.build_optimizers()
    return trainer


def make_checkpoint_manager(trainer, run_dir):
    checkpoint = tf.train.Checkpoint(**trainer.checkpoint_items())
    return tf.train.CheckpointManager(checkpoint, os.path.join(run_dir, "checkpoints"),
                                      max_to_keep=3)


def plan_segments(start_step, total_steps, steps_per_epoch):
    """Split steps [start, total) into fit() calls: [(initial_epoch, epochs, steps_per_epoch)].

    A run resumed mid-epoch first finishes that epoch alone; whole epochs then go in one call
    (one progress bar per epoch, as usual); a --max_steps end mid-epoch is its own call.
    """
    segments = []
    step = start_step
    if step % steps_per_epoch and step < total_steps:
        epoch = step // steps_per_epoch
        n = min((epoch + 1) * steps_per_epoch, total_steps) - step
        segments.append((epoch, epoch + 1, n))
        step += n
    full_epochs = (total_steps - step) // steps_per_epoch
    if full_epochs:
        epoch = step // steps_per_epoch
        segments.append((epoch, epoch + full_epochs, steps_per_epoch))
        step += full_epochs * steps_per_epoch
    if step < total_steps:
        epoch = step // steps_per_epoch
        segments.append((epoch, epoch + 1, total_steps - step))
    return segments


def _prepare_run_dir(config):
    run_dir = config.run_dir
    has_checkpoint = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    if config.resume:
        if not has_checkpoint:
            raise UserError(f"--resume: {run_dir} has no checkpoint to resume from. Drop "
                            f"--resume to start a new run there, or pass the right --out_dir.")
    elif os.path.exists(run_dir) and os.listdir(run_dir):
        if not config.overwrite:
            raise UserError(f"{run_dir} already holds a run. Pass --resume to continue it, "
                            f"--overwrite to replace it, or choose another --out_dir.")
    # Fail now, not after an hour, if the location is read-only or full.
    try:
        if config.overwrite and os.path.exists(run_dir):
            shutil.rmtree(run_dir)
        os.makedirs(run_dir, exist_ok=True)
        probe = os.path.join(run_dir, ".write_test")
        with open(probe, "wb") as f:
            f.write(b"\0" * (1 << 20))
            f.flush()
            os.fsync(f.fileno())
        os.remove(probe)
    except OSError as e:
        raise UserError(f"cannot write to {run_dir}: {e.strerror}. Choose a writable "
                        f"--out_dir with free space.") from None
    return run_dir


def _set_precision(policy):
    keras.mixed_precision.set_global_policy("float32" if policy == "off" else policy)


# ------------------------------------------------------------------ the run
def run_training(config, log=print):
    """Train (or resume) the run described by `config`; returns a TrainResult."""
    config.validate()
    start_time = time.time()
    images = data.load_training_images(config.mnist_dir, config.tfds_data_dir)
    spe = data.steps_per_epoch(len(images), config.batch_size)
    run_dir = _prepare_run_dir(config)

    keras.utils.set_random_seed(config.seed)
    _set_precision(config.mixed_precision)
    try:
        trainer = build_trainer(config)
    finally:
        _set_precision("off")
    manager = make_checkpoint_manager(trainer, run_dir)
    if config.resume:
        manager.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log(f"resumed {run_dir} at generator step {int(trainer.generator_step.numpy())}, "
            f"slope {float(trainer.slope.numpy()):.4f}")
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump({**config.to_json(), **provenance.code_version()}, f, indent=2)

    total = spe * config.epochs
    if config.max_steps:
        total = min(total, config.max_steps)
    guard, stopper = cbs.StopOnNonFinite(), cbs.StopOnSignal()
    fixed_z = seeds.rng(config.seed, "sample_z").standard_normal(
        (64, networks.LATENT_DIM)).astype(np.float32)
    log_dir = os.path.join(run_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    callbacks = [
        guard, stopper,
        cbs.SlopeAnnealing(config.slope_annealing_rate, spe, total),
        cbs.SampleGrids(os.path.join(run_dir, "samples"), fixed_z, config.sample_every, spe),
        cbs.EpochCheckpoint(manager, spe, guard),
        keras.callbacks.CSVLogger(os.path.join(log_dir, "training_log.csv"), append=True),
    ]
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir, write_graph=False))

    history = {}
    step = int(trainer.generator_step.numpy())
    for initial_epoch, epochs, steps in plan_segments(step, total, spe):
        dataset = data.make_training_dataset(images, config.batch_size, config.seed,
                                             start_step=int(trainer.generator_step.numpy()))
        h = trainer.fit(dataset, initial_epoch=initial_epoch, epochs=epochs, shuffle=False,
                        steps_per_epoch=steps, callbacks=callbacks,
                        verbose={"bar": 1, "line": 2, "off": 0}[config.progress])
        for k, v in h.history.items():
            history.setdefault(k, []).extend(v)
        if guard.failed_step is not None or stopper.received:
            break

    step = int(trainer.generator_step.numpy())
    slope = float(trainer.slope.numpy())
    if guard.failed_step is not None:
        last = manager.latest_checkpoint or "none (failed in the first epoch)"
        raise TrainingFailed(
            f"training diverged: {guard.failed_metric} became NaN/Inf at generator step "
            f"{guard.failed_step}. No generator was exported; the last good checkpoint is "
            f"{last}. Try another --seed, or --mixed_precision=off if it was on.")
    if manager.latest_checkpoint is None or int(manager.latest_checkpoint.rsplit("-", 1)[1]) != step:
        manager.save(checkpoint_number=step)
    wall = time.time() - start_time
    if stopper.received:
        log(f"{stopper.received} received: stopped after generator step {step} and saved a "
            f"checkpoint. Continue with: --resume --out_dir={run_dir}")
        return TrainResult(run_dir, step, slope, history, wall, "interrupted", None)

    gen_path = export.export_generator(trainer.generator, os.path.join(run_dir, "generator"),
                                       metadata=_metadata(config, step, slope))
    log(f"done: {step} generator steps in {wall:.0f} s; generator exported to {gen_path}")
    return TrainResult(run_dir, step, slope, history, wall, "completed", gen_path)


def _metadata(config, step, slope):
    return dict(neuron=config.neuron, arch=config.arch, objective=config.objective,
                bn_mode=config.resolved_bn_mode, generator_step=step, slope=slope,
                seed=config.seed, latent_dim=networks.LATENT_DIM, **provenance.code_version())


def export_from_checkpoint(config, checkpoint=None):
    """Export the generator of a (finished or not) run from a checkpoint."""
    _set_precision(config.mixed_precision)
    try:
        trainer = build_trainer(config)
    finally:
        _set_precision("off")
    manager = make_checkpoint_manager(trainer, config.run_dir)
    checkpoint = checkpoint or manager.latest_checkpoint
    if not checkpoint:
        raise UserError(f"{config.run_dir} has no checkpoint to export.")
    manager.checkpoint.restore(checkpoint).expect_partial()
    step = int(trainer.generator_step.numpy())
    return export.export_generator(
        trainer.generator, os.path.join(config.run_dir, "generator"),
        metadata=_metadata(config, step, float(trainer.slope.numpy())))
