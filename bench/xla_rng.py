"""XLA and seeded random numbers: time 6 x 64 x 784 uniforms (one MLP SBN generator step's
noise) per algorithm, with and without XLA.

    python bench/xla_rng.py

TensorFlow's "auto_select" (what keras.random uses) is fast in TensorFlow's kernels but slow
inside an XLA cluster; Philox asked for by name is fast in both, which is why
binarygan_tf/model/random_draws.py names it (docs/performance.md).
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

SHAPE = (6 * 64, 784)  # (5 critic updates + 1 generator update) x batch 64 x 28*28 pixels


def main(calls=20):
    seed = tf.constant([1, 2], tf.int32)
    print("| algorithm | XLA | ms per draw |\n|---|---|---|")
    for alg in ("auto_select", "philox"):
        for jit in (False, True):
            draw = tf.function(
                lambda s, alg=alg: tf.reduce_sum(tf.random.stateless_uniform(SHAPE, s, alg=alg)),
                jit_compile=jit,
            )
            draw(seed).numpy()
            t0 = time.perf_counter()
            for _ in range(calls):
                draw(seed).numpy()
            print(
                f"| {alg} | {jit} | {(time.perf_counter() - t0) / calls * 1000:.2f} |", flush=True
            )


if __name__ == "__main__":
    main()
