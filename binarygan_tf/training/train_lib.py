"""Training as a library: `run_training(TrainConfig(...))` does what `train.py` does.

The entry point only turns flags into a `TrainConfig`; tests and `reproduce.py` call this
module directly. What a run directory holds, and how a training session starts and ends in
it, is run_directory's; this module trains in it.
"""

import dataclasses
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from binarygan_tf import provenance
from binarygan_tf.errors import DataError, TrainingFailed, UserError
from binarygan_tf.model import contract, export, networks, objectives, seeds
from binarygan_tf.model.trainer import CriticSchedule
from binarygan_tf.training import callbacks as cbs
from binarygan_tf.training import config as config_lib
from binarygan_tf.training import data, datasets, run_directory
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
def build_trainer(config, image_shape=contract.IMAGE_SHAPE):
    """Generator, discriminator and trainer for `config` and images of `image_shape`
    (H, W, 1), compiled, optimizer slots built."""
    spec = objectives.OBJECTIVES[config.objective]
    d_batch_norm = (
        spec.discriminator_batch_norm
        if config.discriminator_batch_norm is None
        else config.discriminator_batch_norm
    )
    generator = networks.build_generator(
        config.arch, config.neuron, config.follow, seed=config.seed, image_shape=image_shape
    )
    discriminator = networks.build_discriminator(
        config.arch,
        d_batch_norm,
        config.follow,
        weight_clip=spec.weight_clip,
        seed=config.seed,
        image_shape=image_shape,
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
        steps_per_execution=config.resolved_steps_per_execution,
    )
    trainer.build_optimizers()
    return trainer


class RunCheckpoints:
    """The run's checkpoints: a tf.train.CheckpointManager keeping the last 3 (every
    --checkpoint_every steps and each epoch end: the newest to resume from, two older ones in
    case the newest belongs to a run going bad), with the two ways a checkpoint fails a long
    run ending in one line instead of a traceback deep inside TensorFlow.

    A newest checkpoint that does not read back (truncated by a disk error, a copy or a sync
    cut short) would end every resume; the older ones are still good, so `restore` goes back
    to the newest that reads back and says which it skipped and why. A disk that fills up
    during a save leaves `ckpt-N_temp/` (and maybe a partial index) behind; `save` removes
    them and stops with the folder and the room a checkpoint needs. The manager's state file
    is rewritten only after a complete write, so it still names the previous checkpoint.
    """

    def __init__(self, trainer, run_dir):
        self.run_dir = run_dir
        self.trainer = trainer
        self.checkpoint = tf.train.Checkpoint(**trainer.checkpoint_items())
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(run_dir, run_directory.CHECKPOINT_DIR), max_to_keep=3
        )

    @property
    def latest_checkpoint(self):
        return self.manager.latest_checkpoint

    def save(self, checkpoint_number):
        """Save the trainer's state as checkpoint `checkpoint_number` (the generator step)."""
        kept = self.manager.latest_checkpoint
        prefix = os.path.join(self.manager.directory, f"ckpt-{checkpoint_number}")
        try:
            return self.manager.save(checkpoint_number=checkpoint_number)
        except (tf.errors.OpError, OSError) as e:
            if prefix in self.manager.checkpoints:  # a complete one of the same step: keep it
                shutil.rmtree(f"{prefix}_temp", ignore_errors=True)
            else:
                run_directory.remove_checkpoint_files(prefix)
            needed = max(run_directory.checkpoint_bytes(kept) if kept else 0, self._state_bytes())
            raise run_directory.checkpoint_not_written(
                self.run_dir, checkpoint_number, e, needed, kept
            ) from None

    def _state_bytes(self):
        """What the checkpointed variables take in memory: a checkpoint's size, near enough."""
        trainer = self.trainer
        variables = [
            *trainer.generator.weights,
            *trainer.discriminator.weights,
            *trainer.d_optimizer.variables,
            *trainer.g_optimizer.variables,
        ]
        return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)

    def restore(self, log, checkpoint=None, partial=False):
        """Restore `checkpoint`, by default the newest that reads back; returns its prefix.

        `partial`: the checkpoint may hold more than the trainer (an export needs only G);
        otherwise everything the trainer has must be in it (a resume continues exactly)."""
        candidates = [checkpoint] if checkpoint else self.manager.checkpoints[::-1]
        if not candidates:
            raise UserError(f"{self.run_dir} has no checkpoint.")
        skipped = []
        for prefix in candidates:
            try:
                status = self.checkpoint.restore(prefix)
                if partial:
                    status.expect_partial()
                else:
                    status.assert_existing_objects_matched()
            except Exception as e:  # any way of not reading back: truncated, missing, foreign
                skipped.append((prefix, _one_line(e)))
                continue
            if skipped:
                log(
                    "skipped "
                    + "; ".join(
                        f"checkpoint {p}, which does not read back ({why})" for p, why in skipped
                    )
                    + f"; using {prefix}, the newest that does"
                )
            return prefix
        prefix, why = skipped[0]
        others = f" nor the {len(skipped) - 1} before it" if len(skipped) > 1 else ""
        raise UserError(
            f"checkpoint {prefix} does not read back ({why}){others}; the run cannot "
            f"continue. Start it afresh with --overwrite, or put back a copy of "
            f"{os.path.join(self.run_dir, run_directory.CHECKPOINT_DIR)}."
        )


def _one_line(error):
    """`Type: the last line of the message` (TensorFlow's messages end with the cause)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[-1].strip()}" if lines else type(error).__name__


def plan_epochs(start_step, total_steps, steps_per_epoch):
    """Split steps [start, total) into one fit() call per epoch: [(epoch, steps)].

    One call per epoch, each over exactly that epoch's batches, because Keras runs
    `steps_per_execution` steps per call whatever the epoch's length: an epoch of 1,093 steps
    (MNIST at batch 64, a prime) would otherwise run 1,100 at 10 per execution and every
    epoch boundary (slope annealing, the epoch's checkpoint and row) would drift. Given a
    dataset of exactly `steps` batches, the epoch's last execution ends with its data. A run
    resumed mid-epoch first finishes that epoch; a --max_steps end mid-epoch is a short one.
    """
    epochs = []
    step = start_step
    while step < total_steps:
        epoch = step // steps_per_epoch
        end = min((epoch + 1) * steps_per_epoch, total_steps)
        epochs.append((epoch, end - step))
        step = end
    return epochs


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
    images = datasets.load_images(
        config.dataset, config.binarize, config.mnist_dir, config.tfds_data_dir
    )
    # Checked before the run directory is touched, so bad data leaves nothing half-written.
    fingerprint = check_data(config, images)
    # Held until the run is exported or stopped: a second trainer of this directory is
    # refused (RunLocked) instead of interleaving checkpoints with this one; the folder is
    # checked again once held, emptied with --overwrite, probed, and the session timed.
    with run_directory.training_session(
        config.run_dir, resume=config.resume, overwrite=config.overwrite
    ) as session:
        return _train(config, changes, images, fingerprint, start_time, session, log)


def check_data(config, images):
    """The data's fingerprint (datasets.fingerprint), once it is data the run can train on;
    else one line: fewer images than a batch, a size the architecture does not take
    (networks.check_image_shape), or, on --resume, other images than the run started with
    (config.json records their size and fingerprint)."""
    data.steps_per_epoch(len(images), config.batch_size)
    shape = tuple(images.shape[1:])
    try:
        networks.check_image_shape(config.arch, shape)
    except ValueError as e:
        raise UserError(f"--dataset={config.dataset}: {e}") from None
    fingerprint = datasets.fingerprint(images)
    stored = run_directory.read_stored(config.run_dir) if config.resume else {}
    if "data" in stored and (
        contract.image_shape(stored) != shape or stored["data"] != fingerprint
    ):
        then = f"{stored['data'].get('images')} of {_size(contract.image_shape(stored))}"
        raise DataError(
            f"the images of --dataset={config.dataset} changed since the run in "
            f"{config.run_dir} started ({then} then, {len(images)} of {_size(shape)} now, "
            f"fingerprint {stored['data'].get('sha256', '?')[:12]} then, "
            f"{fingerprint['sha256'][:12]} now): a resumed run trains on the images it "
            f"started with; put them back, or start a new run."
        )
    return fingerprint


def _size(shape):
    return f"{shape[0]}x{shape[1]}"


def _train(config, changes, images, fingerprint, start_time, session, log):
    spe = data.steps_per_epoch(len(images), config.batch_size)
    run_dir = config.run_dir
    image_shape = tuple(images.shape[1:])

    keras.utils.set_random_seed(config.seed)
    _set_precision(config.mixed_precision)
    try:
        trainer = build_trainer(config, image_shape)
    finally:
        _set_precision("off")
    checkpoints = RunCheckpoints(trainer, run_dir)
    if config.resume:
        checkpoints.restore(log)
        log(
            f"resumed {run_dir} at generator step {int(trainer.generator_step.numpy())}, "
            f"slope {float(trainer.slope.numpy()):.4f}"
        )
    run_directory.record_config(
        run_dir,
        {
            **config.to_json(),
            contract.IMAGE_SHAPE_KEY: list(image_shape),
            "data": fingerprint,
        },
        provenance.code_version(),
        resumed_at=int(trainer.generator_step.numpy()) if config.resume else None,
        changes=changes,
    )

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
        checkpoint_manager=checkpoints,
        checkpoint_every=config.checkpoint_every,
        tensorboard=config.tensorboard,
        scalars_every=config.scalars_every,
        progress=config.progress,
    )
    guard, stopper = run_callbacks.guard, run_callbacks.stopper

    history = {}
    step = int(trainer.generator_step.numpy())
    try:
        for epoch, steps in plan_epochs(step, total, spe):
            if stopper.received:  # a Ctrl-C during the last fit() call or since it ended
                break
            dataset = data.make_training_dataset(
                images,
                config.batch_size,
                config.seed,
                start_step=int(trainer.generator_step.numpy()),
            ).take(steps)
            h = trainer.fit(
                dataset,
                initial_epoch=epoch,
                epochs=epoch + 1,
                shuffle=False,
                steps_per_epoch=steps,
                callbacks=run_callbacks.callbacks,
                verbose=0,
            )  # progress output is one of the callbacks
            for k, v in h.history.items():
                history.setdefault(k, []).extend(v)
            if guard.failed_step is not None:
                break
    finally:
        run_callbacks.close()

    step = int(trainer.generator_step.numpy())
    slope = float(trainer.slope.numpy())
    if guard.failed_step is not None:
        last = checkpoints.latest_checkpoint or "none (failed in the first epoch)"
        per_call = config.resolved_steps_per_execution
        where = (
            f"at generator step {guard.failed_step}"
            if per_call == 1
            else f"by generator step {guard.failed_step} (checked every {per_call} steps, "
            "--steps_per_execution)"
        )
        raise TrainingFailed(
            f"training diverged: {guard.failed_metric} became NaN/Inf {where}. No generator "
            f"was exported; the last good checkpoint is {last}. Try another --seed, or "
            "--mixed_precision=off if it was on."
        )
    if (
        checkpoints.latest_checkpoint is None
        or run_directory.checkpoint_step(checkpoints.latest_checkpoint) != step
    ):
        checkpoints.save(checkpoint_number=step)
    wall = time.time() - start_time
    if stopper.received:
        log(
            f"{stopper.received} received: stopped after generator step {step} and saved a "
            f"checkpoint. Continue with: --resume --out_dir={run_dir}"
        )
        session.end(wall)
        return TrainResult(run_dir, step, slope, history, wall, "interrupted", None)

    gen_path = export.export_generator(
        trainer.generator,
        os.path.join(run_dir, run_directory.GENERATOR_DIR),
        metadata=_metadata(config, step, slope),
    )
    log(f"done: {step} generator steps in {wall:.0f} s; generator exported to {gen_path}")
    session.end(time.time() - start_time)
    return TrainResult(run_dir, step, slope, history, wall, "completed", gen_path)


def _metadata(config, step, slope):
    """binarygan.json of an export: what the model is and the code that trained it."""
    stored = run_directory.read_stored(config.run_dir)
    return dict(
        neuron=config.neuron,
        arch=config.arch,
        objective=config.objective,
        follow=config.follow,
        dataset=config.dataset,
        binarize=config.binarize,
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


def restore_trainer(config, checkpoint=None, log=print):
    """The run's trainer (G, D, optimizers, step, slope) as a checkpoint of it holds them
    (default: the newest that reads back); for exporting, or looking at D after the fact.
    The image shape is the one config.json recorded (runs from before it: MNIST's)."""
    image_shape = contract.image_shape(run_directory.read_stored(config.run_dir))
    _set_precision(config.mixed_precision)
    try:
        trainer = build_trainer(config, image_shape)
    finally:
        _set_precision("off")
    RunCheckpoints(trainer, config.run_dir).restore(log, checkpoint, partial=True)
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
