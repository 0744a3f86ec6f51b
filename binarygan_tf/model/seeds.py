"""Every random stream of a run, derived from one root seed, in one place.

A run has several independent sources of randomness: the initial weights of G and of D, the
latent batches z, the stochastic binary neurons' noise, WGAN-GP's interpolation weights, the
order of the data, the fixed z of the sample grids, and evaluation's draws. Giving each the
same integer seed is a trap: two Keras `SeedGenerator`s built from one seed share the same
Philox key and counter, so (for example) z at generator step k and the k-th SBN noise draw
would be computed from the same random bits. Here each stream gets its own seed from
`numpy.random.SeedSequence(root, spawn_key=(stream, *index))`, NumPy's construction for
independent child streams of one seed, so the streams are decorrelated by design and a run is
still fixed by its one `--seed`.

`derive(None, ...)` returns None (the library's "unseeded" convention is kept).
"""

import numpy as np

# The streams, in a fixed order: a stream's index is part of its spawn key, so only append.
STREAMS = (
    "generator_init",  # G's kernel initializers, one child per layer
    "discriminator_init",  # D's kernel initializers, one child per layer
    "latent",  # z of every generator step (trainer)
    "sbn_noise",  # the stochastic binary neurons' uniform noise
    "interpolation",  # WGAN-GP's x_hat = e * real + (1 - e) * fake weights
    "data_order",  # the per-epoch permutation of the training images
    "sample_z",  # the fixed z of the sample grids written during training
    "evaluation_z",  # evaluate.py: z of the generated samples
    "evaluation_binarize",  # evaluate.py: Bernoulli binarization of real-valued outputs
    "evaluation_reference",  # evaluate.py: which real images form the reference row
    "evaluation_split",  # evaluate.py, data without a classifier: its reference half
)

# Seeds stay below 2**31 - 2: Keras' TF backend folds a SeedGenerator's int64 state into int32
# with `floormod(state, int32.max - 1)` (random_draws._seed), so a larger seed would alias.
_SEED_RANGE = 2**31 - 2


def derive(root, stream, *index):
    """The seed (a non-negative int) of `stream` (one of STREAMS), optionally of its child
    `index` (e.g. a layer number), for the run seeded by `root`; None if `root` is None."""
    if root is None:
        return None
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; expected one of {STREAMS}")
    key = (STREAMS.index(stream), *(int(i) for i in index))
    state = np.random.SeedSequence(int(root), spawn_key=key).generate_state(2, np.uint32)
    return int((int(state[0]) << 32 | int(state[1])) % _SEED_RANGE)


def rng(root, stream):
    """A NumPy Generator for `stream` (NumPy-side draws: the sample-grid z, evaluation)."""
    return np.random.default_rng(derive(root, stream))
