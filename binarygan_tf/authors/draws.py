"""Every input a run of their graph consumes, drawn up front, so two runs can be fed the same.

Their graph draws its own randomness (the SBN output layer's uniforms, WGAN-GP's
interpolation weights); the parity command replaces those draws with the arrays made here,
together with the z and the real batches of each step. Consumers: the step-for-step
parity test (ours against theirs, tests/test_authors_parity.py), tools/variable_kinds.py
(theirs on reference variables against theirs on resource variables), and the late-training
parity from one of their checkpoints (`late_inputs`: real batches, tools/late_parity.py).

`TheirStream` is the other direction: not draws we feed them, but the z and batch order
their own loop draws for a seed, so that ours can be fed exactly what theirs trains on
(tools/their_inputs.py).
"""

import numpy as np

from binarygan_tf.authors import presets
from binarygan_tf.model.contract import IMAGE_SHAPE, LATENT_DIM

DATA_DENSITY = 0.19  # random binary images at binarized MNIST's share of 'on' pixels


def parity_inputs(arch, neuron, objective, steps, batch, seed):
    """({name: array}, critic updates per generator step) for `steps` generator steps of
    their critic schedule, seeded."""
    rng = np.random.default_rng(seed)
    counts = [presets.critic_count(k) for k in range(steps)]
    inputs = {
        "z": rng.standard_normal((steps, batch, LATENT_DIM)).astype(np.float32),
        "real": (rng.random((steps, batch, *IMAGE_SHAPE)) < DATA_DENSITY).astype(np.uint8),
    }
    inputs.update(_graph_draws(rng, arch, neuron, objective, counts, batch))
    return inputs, counts


def late_inputs(arch, neuron, objective, images, start_step, steps, batch, seed):
    """({name: array}, critic updates per generator step) for `steps` generator steps of
    their critic schedule from generator step `start_step` (late-training parity, from one of
    their checkpoints), on real images: each step a batch of `batch` images drawn without
    replacement from `images` ([N, H, W, 1], 0/1, binarized as for training) and a standard
    normal z, seeded."""
    rng = np.random.default_rng(seed)
    counts = [presets.critic_count(start_step + k) for k in range(steps)]
    rows = np.stack([rng.choice(len(images), batch, replace=False) for _ in range(steps)])
    inputs = {
        "z": rng.standard_normal((steps, batch, LATENT_DIM)).astype(np.float32),
        "real": np.asarray(images, np.uint8)[rows],
    }
    inputs.update(_graph_draws(rng, arch, neuron, objective, counts, batch))
    return inputs, counts


def _graph_draws(rng, arch, neuron, objective, counts, batch):
    """The draws their graph makes itself, for `counts` critic updates per generator step:
    WGAN-GP's interpolation weights, an SBN's noise (per critic update and per generator
    update)."""
    steps, critics = len(counts), sum(counts)
    inputs = {}
    if objective == "wgan-gp":
        inputs["eps_critic"] = rng.random((critics, batch, 1, 1, 1)).astype(np.float32)
    if neuron == "sbn":
        # their SBN layer draws in its output's shape: flat for the MLP, an image for the CNN
        shape = (batch, int(np.prod(IMAGE_SHAPE))) if arch == "mlp" else (batch, *IMAGE_SHAPE)
        inputs["noise_critic"] = rng.random((critics,) + shape).astype(np.float32)
        inputs["noise_generator"] = rng.random((steps,) + shape).astype(np.float32)
    return inputs


class TheirStream:
    """Their loop's draws after `compare_authors.py --seed=seed`, as `BinaryGAN.train`
    (bgan/mnist/models.py) draws them from NumPy's global generator, which the worker seeds
    with `np.random.seed(seed)` before their code runs (worker._seed); nothing else draws
    from it in between (checked against what their loop fed: tools/their_inputs.py).

    First the sampler's fixed `z_sample` (normal, [batch, z_dim]) and `x_sample` (a choice of
    `batch` rows), then, for every epoch their loop starts (`epoch()`),
    `np.random.normal(size=(num_batch, batch, z_dim))` and
    `np.random.choice(num_images, (num_batch, batch), False)`: the z and the image rows of each
    generator step of the epoch. z is float64, as drawn; their z placeholder is float32, so
    they train on it cast to float32."""

    def __init__(self, seed, num_images, batch=64, z_dim=LATENT_DIM):
        self.num_images, self.batch, self.z_dim = num_images, batch, z_dim
        self.num_batch = num_images // batch
        self._rs = np.random.RandomState(seed)  # what np.random.seed(seed) makes the global one
        self.z_sample = self._rs.normal(size=(batch, z_dim))
        self.sample_rows = self._rs.choice(num_images, batch, False)

    def epoch(self):
        """(z [num_batch, batch, z_dim] float64, rows [num_batch, batch]) of the next epoch."""
        z = self._rs.normal(size=(self.num_batch, self.batch, self.z_dim))
        return z, self._rs.choice(self.num_images, (self.num_batch, self.batch), False)
