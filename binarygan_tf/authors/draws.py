"""Every input a run of their graph consumes, drawn up front, so two runs can be fed the same.

Their graph draws its own randomness (the SBN output layer's uniforms, WGAN-GP's
interpolation weights); the parity command replaces those draws with the arrays made here,
together with the z and the real batches of each step. Two consumers: the step-for-step
parity test (ours against theirs, tests/test_authors_parity.py) and tools/variable_kinds.py
(theirs on reference variables against theirs on resource variables).
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
    critics = sum(counts)
    inputs = {
        "z": rng.standard_normal((steps, batch, LATENT_DIM)).astype(np.float32),
        "real": (rng.random((steps, batch, *IMAGE_SHAPE)) < DATA_DENSITY).astype(np.uint8),
    }
    if objective == "wgan-gp":
        inputs["eps_critic"] = rng.random((critics, batch, 1, 1, 1)).astype(np.float32)
    if neuron == "sbn":
        # their SBN layer draws in its output's shape: flat for the MLP, an image for the CNN
        shape = (batch, int(np.prod(IMAGE_SHAPE))) if arch == "mlp" else (batch, *IMAGE_SHAPE)
        inputs["noise_critic"] = rng.random((critics,) + shape).astype(np.float32)
        inputs["noise_generator"] = rng.random((steps,) + shape).astype(np.float32)
    return inputs, counts
