"""The adversarial training step, as a `keras.Model` that `fit()` drives.

Shape of the algorithm (paper Sec. 2.1, authors' `bgan/mnist/models.py::BinaryGAN.train`):
for every generator step, sample one batch z, run `n_critic` critic updates on the same real
batch and the same z, then one generator update with that z. `n_critic` follows the authors'
schedule (100 for the first 25 generator steps and on every 500th, otherwise 5).

Everything happens inside the compiled `train_step`: the critic loop is a `tf.while_loop`
(Keras traces `train_step` with AutoGraph off, so a Python `for` over `tf.range` would not
compile), and the schedule is a tensor expression of the generator-step counter, so there is
no Python round trip per critic update. Objectives differ only in their losses, so a subclass
per objective supplies `critic_loss` and `generator_loss` and the step itself is written once.
"""

import dataclasses

import keras
import tensorflow as tf

from binarygan_tf.model import random_draws, seeds
from binarygan_tf.model.defaults import (
    CRITIC_STEPS,
    CRITIC_WARMUP_EVERY,
    CRITIC_WARMUP_STEPS,
    CRITIC_WARMUP_UNTIL,
)
from binarygan_tf.model.networks import LATENT_DIM, output_neuron


@dataclasses.dataclass(frozen=True)
class CriticSchedule:
    """Critic updates per generator step: `warmup_steps` for the first `warmup_until`
    generator steps and every `warmup_every`-th, else `steps` (defaults and their source:
    defaults.py)."""

    steps: int = CRITIC_STEPS
    warmup_steps: int = CRITIC_WARMUP_STEPS
    warmup_until: int = CRITIC_WARMUP_UNTIL
    warmup_every: int = CRITIC_WARMUP_EVERY

    def count(self, generator_step):
        """n_critic for a (tensor) generator step, usable inside the compiled step."""
        step = tf.cast(generator_step, tf.int64)
        warm = tf.logical_or(step < self.warmup_until, tf.equal(step % self.warmup_every, 0))
        return tf.where(
            warm, tf.constant(self.warmup_steps, tf.int32), tf.constant(self.steps, tf.int32)
        )


class AdversarialTrainer(keras.Model):
    """Holds G, D, the annealed slope and the generator-step counter; trains them by `fit()`.

    Subclasses implement:
      `critic_loss(real, fake) -> (loss, extras)` where `extras` is a dict of scalar tensors
      named in `critic_metric_names` (logged besides `d_loss`), and
      `generator_loss(fake_logits) -> loss`.
    """

    critic_metric_names = ()

    def __init__(
        self,
        generator,
        discriminator,
        schedule=CriticSchedule(),
        seed=None,
        share_generator_forward=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.share_generator_forward = share_generator_forward
        self.generator = generator
        self.discriminator = discriminator
        self.schedule = schedule
        # The slope lives in the output neuron (it multiplies the logits there); the trainer
        # exposes it so callbacks and checkpoints reach it in one place.
        self.slope = output_neuron(generator).slope
        self.generator_step = keras.Variable(
            0, dtype="int64", trainable=False, name="generator_step"
        )
        self.latent_seed = keras.random.SeedGenerator(seeds.derive(seed, "latent"))
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.extra_trackers = {n: keras.metrics.Mean(name=n) for n in self.critic_metric_names}

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    def build_optimizers(self):
        """Create optimizer slots now: Keras 3 makes them lazily, and a checkpoint restored
        before they exist silently drops the optimizer state."""
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, *self.extra_trackers.values()]

    def call(self, z, training=False):
        return self.generator(z, training=training)

    # ---------------------------------------------------------------- the step
    def train_step(self, real):
        real = tf.cast(real, tf.float32)
        z = random_draws.normal((tf.shape(real)[0], LATENT_DIM), self.latent_seed)
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as g_tape:
            generated = self.generator(z, training=True)
            with g_tape.stop_recording():
                d_loss, extras = self.critic_loop(real, z, generated)
            g_loss = self.generator_loss(self.discriminator(generated["samples"], training=True))
            scaled = self.g_optimizer.scale_loss(g_loss)
        self.g_optimizer.apply(g_tape.gradient(scaled, g_vars), g_vars)
        self.generator_step.assign_add(1)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        for name, value in extras.items():
            self.extra_trackers[name].update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def critic_loop(self, real, z, generated):
        """`n_critic` critic updates on one real batch and one z, as a `tf.while_loop`.

        With `share_generator_forward` (the default) the critic updates reuse the generator
        output computed once for this step, which the generator update then differentiates:
        G and z do not change during the critic loop, so for deterministic outputs this is
        the same computation with 1 generator forward instead of n_critic + 1 (the only
        difference: paper-mode batch norm updates its moving averages once per step, not
        n_critic + 1 times; they do not enter training). An SBN redraws its noise for each
        critic update, as the authors' code does. `share_generator_forward=False` recomputes
        G(z) in every critic update, like the authors' graph.

        An SBN's redraw for update i + 1 is issued inside update i's iteration, before the
        update, on which it does not depend: the executor runs the draw beside the update
        instead of between two updates (the draw is one Philox kernel that hardly uses a
        second core; docs/performance.md, "The SBN's draws off the critical path"). The same
        draws in the same order from the same seeds: the numbers do not change.
        """
        neuron = output_neuron(self.generator)
        count = self.schedule.count(self.generator_step)
        samples = tf.stop_gradient(generated["samples"])
        preactivated = tf.stop_gradient(generated["preactivated"])

        def redraw_for(update, otherwise):
            # A draw only for an update that will run, so the seed advances once per update
            # (and not at all in a step without critic updates).
            return tf.cond(
                update < count, lambda: neuron.redraw(samples, preactivated), lambda: otherwise
            )

        redraws_ahead = self.share_generator_forward and neuron.redraws

        def critic_body(i, fake, d_loss, extras):
            if not self.share_generator_forward:
                fake = tf.stop_gradient(self.generator(z, training=True)["samples"])
            upcoming = redraw_for(i + 1, fake) if redraws_ahead else fake
            d_loss, extras = self.critic_update(real, fake)
            return i + 1, upcoming, d_loss, extras

        first = redraw_for(0, samples) if redraws_ahead else samples
        zero = tf.constant(0.0, tf.float32)
        _, _, d_loss, extras = tf.while_loop(
            lambda i, *_: i < count,
            critic_body,
            (tf.constant(0, tf.int32), first, zero, {n: zero for n in self.critic_metric_names}),
        )
        return d_loss, extras

    def critic_update(self, real, fake):
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            loss, extras = self.critic_loss(real, fake)
            scaled = self.d_optimizer.scale_loss(loss)
        self.d_optimizer.apply(tape.gradient(scaled, d_vars), d_vars)
        return tf.cast(loss, tf.float32), {k: tf.cast(v, tf.float32) for k, v in extras.items()}

    def generator_update(self, z):
        """A lone generator update (tests and tools; `train_step` fuses it with the loop)."""
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)["samples"]
            loss = self.generator_loss(self.discriminator(fake, training=True))
            scaled = self.g_optimizer.scale_loss(loss)
        self.g_optimizer.apply(tape.gradient(scaled, g_vars), g_vars)
        return tf.cast(loss, tf.float32)

    def critic_loss(self, real, fake):
        raise NotImplementedError

    def generator_loss(self, fake_logits):
        raise NotImplementedError

    # ---------------------------------------------------------------- state
    def checkpoint_items(self):
        """Everything a resumed run needs to continue exactly (for tf.train.Checkpoint)."""
        items = dict(
            generator=self.generator,
            discriminator=self.discriminator,
            d_optimizer=self.d_optimizer,
            g_optimizer=self.g_optimizer,
            generator_step=self.generator_step,
            slope=self.slope,
            latent_seed=self.latent_seed.state,
        )
        neuron = output_neuron(self.generator)
        if hasattr(neuron, "seed_generator"):
            items["neuron_seed"] = neuron.seed_generator.state
        return items
