"""Seeded random draws that stay fast under XLA.

`keras.random.uniform/normal` call TensorFlow's stateless ops with the algorithm left to
"auto_select", which on CPU is Philox in TensorFlow's kernels but, inside an XLA cluster, an
implementation measured far slower (docs/performance.md; `python bench/xla_rng.py`). Asking for
Philox explicitly keeps XLA as fast as the kernels and, outside XLA, draws exactly the numbers `keras.random` would (same algorithm, same
seed handling), so runs without XLA are unchanged. XLA's Philox still yields a different
(equally distributed) stream than the kernels' for the same seed.
"""

import tensorflow as tf

ALGORITHM = "philox"


def _seed(seed_generator):
    # As keras' TF backend does: advance the SeedGenerator, fold its int64 state into int32.
    state = seed_generator.next()
    return tf.cast(tf.math.floormod(state, tf.int32.max - 1), tf.int32)


def uniform(shape, seed_generator, dtype="float32"):
    """U[0, 1) of `shape`, advancing `seed_generator` (a keras.random.SeedGenerator)."""
    return tf.random.stateless_uniform(
        shape, seed=_seed(seed_generator), dtype=dtype, alg=ALGORITHM
    )


def normal(shape, seed_generator, dtype="float32"):
    """N(0, 1) of `shape`, advancing `seed_generator`."""
    return tf.random.stateless_normal(shape, seed=_seed(seed_generator), dtype=dtype, alg=ALGORITHM)
