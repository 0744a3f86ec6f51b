"""XLA:CPU against TensorFlow's own (oneDNN) kernels on the MLP's pieces of work: its matrix
products at batch 64 and the Adam update of its critic, Keras' ops against the fused kernel.

    python bench/kernel_paths.py

Why the MLP's default turned XLA off (docs/performance.md, "XLA off for the MLP"): a whole
step A/B only says which path wins; this says where. Each figure is the median of 7 timed
blocks after a warm-up, on whatever the cores are doing, so run it on idle cores. Each
product gets its own input (`x + i`) so that no path can compute it once; that addition is
timed too, the same in both paths, so the rates are a little below the products' own.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from binarygan_tf.model import defaults, networks, objectives  # noqa: E402
from binarygan_tf.training.config import TrainConfig  # noqa: E402

BATCH = TrainConfig().batch_size  # the paper's and the code's 64


def _product_shapes():
    """(rows, contraction, columns) of the MLP's large products, from the networks as built:
    the critic's first and second layers and the generator's output layer."""
    critic = networks.build_discriminator("mlp")
    generator = networks.build_generator("mlp", "dbn")
    kernels = [critic.get_layer(n).kernel for n in ("dense_1", "dense_2")]
    kernels.append(generator.get_layer("dense_2").kernel)
    return [(BATCH, *k.shape) for k in kernels]


# The three layouts a layer's forward and backward passes use: x W, x^T dy (the weight
# gradient), dy W^T (the input gradient).
LAYOUTS = ("x W", "x^T dy", "dy W^T")
PRODUCTS_PER_CALL = 30
CRITIC_UPDATES = defaults.CRITIC_STEPS  # one generator step's critic updates


def median_ms(fn, args, calls, blocks=7):
    """Median ms per call of `fn(*args)` over `blocks` blocks of `calls` calls, after a
    warm-up (bench/small_kernels.py times with it too)."""
    for _ in range(3):
        fn(*args).numpy()
    times = []
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        out.numpy()
        times.append((time.perf_counter() - start) / calls * 1000)
    return statistics.median(times)


def matmul_rate(m, k, n, layout, jit):
    """GFLOP/s of PRODUCTS_PER_CALL products of one shape and layout in one tf.function."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(m, k)).astype("float32"))
    w = tf.Variable(rng.normal(size=(k, n)).astype("float32") * 0.02)
    dy = tf.constant(rng.normal(size=(m, n)).astype("float32"))

    def products(x, dy):
        total = tf.constant(0.0)
        for i in range(PRODUCTS_PER_CALL):  # distinct inputs: no product is computed once
            if layout == "x W":
                r = tf.matmul(x + float(i), w)
            elif layout == "x^T dy":
                r = tf.matmul(x + float(i), dy, transpose_a=True)
            else:
                r = tf.matmul(dy + float(i), w, transpose_b=True)
            total += r[0, 0]
        return total

    ms = median_ms(tf.function(products, jit_compile=jit), (x, dy), calls=10)
    return PRODUCTS_PER_CALL * 2 * m * k * n / (ms / 1000) / 1e9


def adam_ms(optimizer_cls, jit):
    """Milliseconds for CRITIC_UPDATES Adam updates of the MLP critic's variables, with the
    paper's Adam settings (objectives.py)."""
    rng = np.random.default_rng(0)
    shapes = [tuple(v.shape) for v in networks.build_discriminator("mlp").trainable_variables]
    variables = [keras.Variable(rng.normal(size=s).astype("float32") * 0.02) for s in shapes]
    grads = [tf.constant(rng.normal(size=s).astype("float32")) for s in shapes]
    opt = optimizer_cls(
        learning_rate=objectives.LEARNING_RATE,
        beta_1=objectives.ADAM_BETAS[0],
        beta_2=objectives.ADAM_BETAS[1],
        epsilon=objectives.OPTIMIZER_EPSILON,
    )
    opt.build(variables)

    def updates(*grads):
        for _ in range(CRITIC_UPDATES):
            opt.apply(grads, variables)
        return tf.cast(opt.iterations, tf.float32)

    return median_ms(tf.function(updates, jit_compile=jit), grads, calls=50)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one shape, for the tests")
    args = ap.parse_args()
    shapes = _product_shapes()
    shapes = shapes[:1] if args.quick else shapes
    layouts = LAYOUTS[:1] if args.quick else LAYOUTS
    print("| product (rows x contraction x columns) | layout | XLA GFLOP/s | kernels GFLOP/s |")
    print("|---|---|---|---|")
    for m, k, n in shapes:
        for layout in layouts:
            xla, kernels = (matmul_rate(m, k, n, layout, jit) for jit in (True, False))
            print(f"| {m} x {k} x {n} | {layout} | {xla:.0f} | {kernels:.0f} |", flush=True)
    print(f"\n| {CRITIC_UPDATES} Adam updates of the MLP critic | XLA ms | kernels ms |")
    print("|---|---|---|")
    for label, cls in (
        ("Keras' ops", keras.optimizers.Adam),
        ("fused kernel", objectives.FusedAdam),
    ):
        xla, kernels = (adam_ms(cls, jit) for jit in (True, False))
        print(f"| {label} | {xla:.2f} | {kernels:.2f} |", flush=True)


if __name__ == "__main__":
    main()
