"""Training as a library: `run_training(TrainConfig(...))` does what `train.py` does.

The entry point only turns flags into a `TrainConfig`; tests and `reproduce.py` call this
module directly. What a run directory holds is listed in run_layout.
"""

import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf

from binarygan_tf import files, provenance
from binarygan_tf.errors import TrainingFailed, UserError, unwritable_output
from binarygan_tf.model import export, networks, objectives, seeds
from binarygan_tf.model.trainer import CriticSchedule
from binarygan_tf.training import callbacks as cbs
from binarygan_tf.training import config as config_lib
from binarygan_tf.training import data, run_directory
from binarygan_tf.training.config import TrainConfig  # noqa: F401 - the library's entry type


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
    spec = objectives.OBJECTIVES[config.objective]
    d_batch_norm = (
        spec.discriminator_batch_norm
        if config.discriminator_batch_norm is None
        else config.discriminator_batch_norm
    )
    generator = networks.build_generator(
        config.arch, config.neuron, config.follow, seed=config.seed
    )
    discriminator = networks.build_discriminator(
        config.arch, d_batch_norm, config.follow, weight_clip=spec.weight_clip, seed=config.seed
    )
    schedule = CriticSchedule(
        config.critic_steps,
        config.critic_warmup_steps,
        config.critic_warmup_until,
        config.critic_warmup_every,
    )
    trainer = spec.trainer(generator, discriminator, schedule=schedule, seed=config.seed)
    fp16 = config.mixed_precision == "mixed_float16"
    trainer.compile(
        d_optimizer=spec.make_optimizer(config.follow, fp16),
        g_optimizer=spec.make_optimizer(config.follow, fp16),
        jit_compile=config.resolved_jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    trainer.build_optimizers()
    return trainer


def make_checkpoint_manager(trainer, run_dir):
    checkpoint = tf.train.Checkpoint(**trainer.checkpoint_items())
    # The last 3 checkpoints (every --checkpoint_every steps and each epoch end): the newest
    # to resume from, two older ones in case the newest belongs to a run going bad.
    return tf.train.CheckpointManager(
        checkpoint, os.path.join(run_dir, run_directory.CHECKPOINT_DIR), max_to_keep=3
    )


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
    """Empty the held run directory with --overwrite, and check it takes files."""
    run_dir = config.run_dir
    try:
        if config.overwrite:
            run_directory.empty(run_dir)
        files.probe_writable(run_dir)
    except OSError as e:
        raise unwritable_output(run_dir, e) from None
    return run_dir


def _write_config(config, run_dir, changes, start_step):
    """config.json: every setting, the code that started the run, and one record per resume
    (its step, the settings it changed, its code), so a run's history stays traceable."""
    stored = config_lib.read_stored(run_dir) if config.resume else {}
    record = {**config.to_json(), **provenance.code_version()}
    if config.resume:
        record.update({k: stored[k] for k in ("git_commit", "git_dirty") if k in stored})
        record["resumes"] = [
            *stored.get("resumes", []),
            {
                "generator_step": start_step,
                **provenance.code_version(),
                "changed": {name: list(pair) for name, pair in changes.items()},
            },
        ]
    files.atomic_write_json(os.path.join(run_dir, run_directory.CONFIG_FILE), record)


def _set_precision(policy):
    keras.mixed_precision.set_global_policy("float32" if policy == "off" else policy)


# ------------------------------------------------------------------ the run
def run_training(config, log=print):
    """Train (or resume) the run described by `config`; returns a TrainResult.

    With `config.resume`, the run's stored settings win: a setting that shapes the model,
    data or schedule and differs from config.json is refused (config.reconcile_resume)."""
    config.validate()
    config, changes = config_lib.check_against_run_dir(config)
    start_time = time.time()
    images = data.load_training_images(config.mnist_dir, config.tfds_data_dir)
    # Held until the run is exported or stopped: a second trainer of this directory is
    # refused (RunLocked) instead of interleaving checkpoints with this one (run_lock).
    with run_directory.hold(config.run_dir):
        return _train(config, changes, images, start_time, log)


def _train(config, changes, images, start_time, log):
    spe = data.steps_per_epoch(len(images), config.batch_size)
    run_dir = _prepare_run_dir(config)
    # Wall time summed over the run's sessions, a killed one included up to its last
    # checkpoint (run_directory.begin_session): a resumed run has no single clock.
    run_directory.begin_session(run_dir)

    keras.utils.set_random_seed(config.seed)
    _set_precision(config.mixed_precision)
    try:
        trainer = build_trainer(config)
    finally:
        _set_precision("off")
    manager = make_checkpoint_manager(trainer, run_dir)
    if config.resume:
        manager.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log(
            f"resumed {run_dir} at generator step {int(trainer.generator_step.numpy())}, "
            f"slope {float(trainer.slope.numpy()):.4f}"
        )
    _write_config(config, run_dir, changes, int(trainer.generator_step.numpy()))

    total = spe * config.epochs
    if config.max_steps:
        total = min(total, config.max_steps)
    fixed_z = (
        seeds.rng(config.seed, "sample_z")
        .standard_normal((64, networks.LATENT_DIM))
        .astype(np.float32)
    )
    run_callbacks = cbs.build_callbacks(
        trainer,
        run_dir,
        steps_per_epoch=spe,
        total_steps=total,
        slope_annealing_rate=config.slope_annealing_rate,
        sample_every=config.sample_every,
        fixed_z=fixed_z,
        checkpoint_manager=manager,
        checkpoint_every=config.checkpoint_every,
        tensorboard=config.tensorboard,
        scalars_every=config.scalars_every,
        progress=config.progress,
    )
    guard, stopper = run_callbacks.guard, run_callbacks.stopper

    history = {}
    step = int(trainer.generator_step.numpy())
    for initial_epoch, epochs, steps in plan_segments(step, total, spe):
        dataset = data.make_training_dataset(
            images, config.batch_size, config.seed, start_step=int(trainer.generator_step.numpy())
        )
        h = trainer.fit(
            dataset,
            initial_epoch=initial_epoch,
            epochs=epochs,
            shuffle=False,
            steps_per_epoch=steps,
            callbacks=run_callbacks.callbacks,
            verbose=0,
        )  # progress output is one of the callbacks
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
            f"{last}. Try another --seed, or --mixed_precision=off if it was on."
        )
    if (
        manager.latest_checkpoint is None
        or run_directory.checkpoint_step(manager.latest_checkpoint) != step
    ):
        manager.save(checkpoint_number=step)
    wall = time.time() - start_time
    if stopper.received:
        log(
            f"{stopper.received} received: stopped after generator step {step} and saved a "
            f"checkpoint. Continue with: --resume --out_dir={run_dir}"
        )
        run_directory.end_session(run_dir, wall)
        return TrainResult(run_dir, step, slope, history, wall, "interrupted", None)

    gen_path = export.export_generator(
        trainer.generator,
        os.path.join(run_dir, run_directory.GENERATOR_DIR),
        metadata=_metadata(config, step, slope),
    )
    log(f"done: {step} generator steps in {wall:.0f} s; generator exported to {gen_path}")
    run_directory.end_session(run_dir, time.time() - start_time)
    return TrainResult(run_dir, step, slope, history, wall, "completed", gen_path)


def _metadata(config, step, slope):
    """binarygan.json of an export: what the model is and the code that trained it."""
    stored = config_lib.read_stored(config.run_dir)
    return dict(
        neuron=config.neuron,
        arch=config.arch,
        objective=config.objective,
        follow=config.follow,
        generator_step=step,
        slope=slope,
        seed=config.seed,
        latent_dim=networks.LATENT_DIM,
        git_commit=stored.get("git_commit"),
        git_dirty=stored.get("git_dirty"),
        resumed_with=[r.get("git_commit") for r in stored.get("resumes", [])],
        exported_with=provenance.code_version(),
    )


def export_run(run_dir, checkpoint=None):
    """Rebuild a run's generator from its config.json, restore a checkpoint (default: the
    latest), export it to RUN_DIR/generator. `binarygan export --run_dir RUN_DIR`."""
    return export_from_checkpoint(TrainConfig.load(run_dir), checkpoint)


def restore_trainer(config, checkpoint=None):
    """The run's trainer (G, D, optimizers, step, slope) as a checkpoint of it holds them
    (default: the latest); for exporting, or looking at D after the fact."""
    _set_precision(config.mixed_precision)
    try:
        trainer = build_trainer(config)
    finally:
        _set_precision("off")
    manager = make_checkpoint_manager(trainer, config.run_dir)
    checkpoint = checkpoint or manager.latest_checkpoint
    if not checkpoint:
        raise UserError(f"{config.run_dir} has no checkpoint.")
    manager.checkpoint.restore(checkpoint).expect_partial()
    return trainer


def export_from_checkpoint(config, checkpoint=None):
    """Export the generator of a (finished or not) run from a checkpoint."""
    trainer = restore_trainer(config, checkpoint)
    step = int(trainer.generator_step.numpy())
    return export.export_generator(
        trainer.generator,
        os.path.join(config.run_dir, run_directory.GENERATOR_DIR),
        metadata=_metadata(config, step, float(trainer.slope.numpy())),
    )
