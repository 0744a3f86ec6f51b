"""The three GAN objectives of the paper (Sec. 2.1, 4.5) and the settings that go with each.

| objective | losses | D batch norm | optimizer |
| --- | --- | --- | --- |
| gan | non-saturating, sigmoid cross-entropy on logits (eqs. 1-2) | yes (paper 4.5) | Adam(1e-4, 0.5, 0.9) (paper 4.5) |
| wgan | E D(fake) - E D(real); clip D to [-0.01, 0.01] | no (paper 4.5) | RMSProp(1e-4, decay 0.9) (paper 4.5) |
| wgan-gp | WGAN + 10 * E(||grad D(x_hat)|| - 1)^2 (eq. 5) | no (paper 4.2) | Adam(1e-4, 0.5, 0.9) (paper 4.2) |

Epsilons are the authors' (`config.py`: `'epsilon': 1e-8`), clip value and GP weight too
(`'clip_value': .01`, `'gp_coefficient': 10.`).
"""

import dataclasses

import keras
import tensorflow as tf

from binarygan_tf.model import random_draws, seeds
from binarygan_tf.model.defaults import DEFAULT_FOLLOW
from binarygan_tf.model.trainer import AdversarialTrainer

CLIP_VALUE = 0.01  # code: config.py gan.clip_value
GP_WEIGHT = 10.0  # code: config.py gan.gp_coefficient; Gulrajani et al. 2017
LEARNING_RATE = 1e-4  # paper 4.2 / 4.5; code: config.py optimizer.lr
ADAM_BETAS = (0.5, 0.9)  # paper 4.2; code: config.py beta1, beta2
RMSPROP_DECAY = 0.9  # paper 4.5; code: config.py decay
OPTIMIZER_EPSILON = 1e-8  # code: config.py optimizer.epsilon (Keras' default is 1e-7)
GRADIENT_NORM_EPSILON = 1e-8  # code: bgan/model.py, inside the gradient penalty's sqrt


class GANTrainer(AdversarialTrainer):
    """Non-saturating GAN: D minimizes BCE(1, D(x)) + BCE(0, D(G(z))), G minimizes
    BCE(1, D(G(z))) (code: `tf.losses.sigmoid_cross_entropy`, each term a batch mean)."""

    def critic_loss(self, real, fake):
        real_logits = self.discriminator(real, training=True)
        fake_logits = self.discriminator(fake, training=True)
        loss = _sigmoid_ce(tf.ones_like(real_logits), real_logits) + _sigmoid_ce(
            tf.zeros_like(fake_logits), fake_logits
        )
        return loss, {}

    def generator_loss(self, fake_logits):
        return _sigmoid_ce(tf.ones_like(fake_logits), fake_logits)


class WGANTrainer(AdversarialTrainer):
    """WGAN critic loss E D(fake) - E D(real); weight clipping comes from the discriminator's
    constraints (`networks.ClipWeights`), which the optimizer applies after each update."""

    critic_metric_names = ("wasserstein",)

    def critic_loss(self, real, fake):
        real_mean = tf.reduce_mean(tf.cast(self.discriminator(real, training=True), tf.float32))
        fake_mean = tf.reduce_mean(tf.cast(self.discriminator(fake, training=True), tf.float32))
        return fake_mean - real_mean, {"wasserstein": real_mean - fake_mean}

    def generator_loss(self, fake_logits):
        return -tf.reduce_mean(tf.cast(fake_logits, tf.float32))


class WGANGPTrainer(WGANTrainer):
    """WGAN-GP (Gulrajani et al. 2017; paper eq. 5): the WGAN loss plus
    10 * mean((||grad_x D(x_hat)|| - 1)^2), x_hat = e*real + (1-e)*fake, e ~ U[0,1) per sample.

    The norm is sqrt(1e-8 + sum of squares) as in the authors' `bgan/model.py`, which keeps the
    gradient finite where the input gradient is exactly zero.
    """

    critic_metric_names = ("wasserstein", "gradient_penalty")

    def __init__(self, *args, seed=None, **kwargs):
        super().__init__(*args, seed=seed, **kwargs)
        self.interpolation_seed = keras.random.SeedGenerator(seeds.derive(seed, "interpolation"))

    def critic_loss(self, real, fake):
        wgan_loss, extras = super().critic_loss(real, fake)
        penalty = self.gradient_penalty(real, fake)
        return wgan_loss + GP_WEIGHT * penalty, {**extras, "gradient_penalty": penalty}

    def gradient_penalty(self, real, fake):
        eps = random_draws.uniform((tf.shape(real)[0], 1, 1, 1), self.interpolation_seed)
        x_hat = eps * real + (1.0 - eps) * fake
        with tf.GradientTape() as tape:
            tape.watch(x_hat)
            logits = tf.cast(self.discriminator(x_hat, training=True), tf.float32)
        grad = tf.cast(tape.gradient(logits, x_hat), tf.float32)
        norm = tf.sqrt(GRADIENT_NORM_EPSILON + tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]))
        return tf.reduce_mean(tf.square(norm - 1.0))

    def checkpoint_items(self):
        return {**super().checkpoint_items(), "interpolation_seed": self.interpolation_seed.state}


def _sigmoid_ce(labels, logits):
    return tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32))
    )


class TF1RMSprop(keras.optimizers.RMSprop):
    """RMSProp whose mean-square accumulator starts at 1, as TF1's `tf.train.RMSPropOptimizer`
    does (its `ms` slot is initialized with ones). Keras starts it at 0, so its first update
    is about lr*g/sqrt(0.1 g^2) against TF1's lr*g/sqrt(0.9 + 0.1 g^2): sqrt(1 + 9/g^2) times
    larger, about 3x at |g| = 1 and 300x at |g| = 0.01, and WGAN's clipped critic has small
    gradients. Used when following the authors' code (`follow="code"`)."""

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        for velocity in self._velocities:
            velocity.assign(tf.ones_like(velocity))


class FusedAdam(keras.optimizers.Adam):
    """Keras' Adam whose per-variable update is TensorFlow's fused `ResourceApplyAdam` kernel,
    the kernel TF1's `tf.train.AdamOptimizer` runs in the authors' code.

    Why: outside XLA, Keras writes the update as about seven elementwise ops per variable,
    each a pass over memory and an op dispatch; the fused kernel makes one pass. Measured on
    the MLP critic's five updates per generator step (533,505 weights, `bench/kernel_paths.py`):
    5.84 ms with Keras' ops, 2.13 ms fused. Inside XLA both become fused loops (2.04, 1.97 ms).

    Same arithmetic as Keras' `update_step` (and TF1's): alpha = lr sqrt(1 - b2^t) / (1 - b1^t),
    m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2), var -= alpha m / (sqrt(v) + eps), with t
    from the optimizer's own `iterations`; the slots are Keras' own, so checkpoints keep their
    layout. AMSGrad (not used here) falls back to Keras' ops.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].handle,
            v=self._velocities[index].handle,
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype),
            beta1=tf.cast(self.beta_1, dtype),
            beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )


@dataclasses.dataclass(frozen=True)
class ObjectiveSpec:
    """Everything that goes with one objective, described once (the table in the module
    docstring): its trainer (the losses), its optimizer, and the discriminator it needs."""

    trainer: type
    optimizer: str  # "adam" or "rmsprop"
    discriminator_batch_norm: bool
    weight_clip: float | None = None

    def make_optimizer(self, follow=DEFAULT_FOLLOW, mixed_float16=False):
        """A fresh optimizer (one per network); `follow="code"` gives WGAN TF1's RMSProp."""
        if self.optimizer == "rmsprop":
            rmsprop_cls = TF1RMSprop if follow == "code" else keras.optimizers.RMSprop
            opt = rmsprop_cls(
                learning_rate=LEARNING_RATE,
                rho=RMSPROP_DECAY,
                momentum=0.0,
                epsilon=OPTIMIZER_EPSILON,
            )
        else:
            opt = FusedAdam(
                learning_rate=LEARNING_RATE,
                beta_1=ADAM_BETAS[0],
                beta_2=ADAM_BETAS[1],
                epsilon=OPTIMIZER_EPSILON,
            )
        if mixed_float16:
            # Dynamic loss scaling: float16 gradients of small losses underflow otherwise.
            opt = keras.optimizers.LossScaleOptimizer(opt)
        return opt


OBJECTIVES = {
    # paper Sec. 4.5: batch norm in D for the GAN objective, Adam
    "gan": ObjectiveSpec(GANTrainer, "adam", discriminator_batch_norm=True),
    # paper Sec. 4.5: no batch norm in D, weight clipping, RMSProp
    "wgan": ObjectiveSpec(
        WGANTrainer, "rmsprop", discriminator_batch_norm=False, weight_clip=CLIP_VALUE
    ),
    # paper Sec. 4.2: no batch norm in D (Gulrajani et al.), Adam
    "wgan-gp": ObjectiveSpec(WGANGPTrainer, "adam", discriminator_batch_norm=False),
}
