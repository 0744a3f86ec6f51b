"""Single kernels behind the two configurations that stayed below 1.5x the longest: the MLP
SBN's uniform draws and the CNN critic's first convolution and pooling, each against the
equivalents tried.

    python bench/small_kernels.py [--quick] [--markdown=PATH]

A whole-step A/B (`bench/ab_levers.py`) says whether a lever pays; this says what one kernel
costs and whether an equivalent computes the same values (docs/performance.md, "The SBN's
draws off the critical path" and "The CNN: what was tried"). Shapes come from the networks
as networks.py builds them, at the default batch size. Each figure is the median of timed blocks of `CALLS` calls in one
tf.function, each call on its own input (`x + i`, so nothing is computed once), minus the
same block with the kernel left out, so it is the kernel's own time. Run it on idle cores;
`TF_NUM_INTRAOP_THREADS=1` gives the one-thread figures.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.ops import gen_nn_ops  # noqa: E402

from binarygan_tf.model import contract, networks, random_draws  # noqa: E402

if __package__:  # imported as bench.small_kernels (the tests, python -m)
    from bench.kernel_paths import BATCH, median_ms  # noqa: E402
else:  # run as a script: this folder is sys.path[0]
    from kernel_paths import BATCH, median_ms  # noqa: E402

CALLS = 20
# One SBN draw: the generator's output for a batch, one uniform per pixel.
DRAW_SHAPE = (BATCH, int(np.prod(contract.IMAGE_SHAPE)))


def _critic_shapes():
    """The CNN critic as built (networks.py): conv_1's input, kernel and output shapes, and
    each pooling's (name, window, stride, padding, input shape), at batch BATCH."""
    critic = networks.build_discriminator("cnn")
    conv = critic.get_layer("conv_1")
    conv_1 = dict(
        x=(BATCH, *conv.input.shape[1:]),
        w=tuple(conv.kernel.shape),
        dy=(BATCH, *conv.output.shape[1:]),
    )
    pools = []
    for name in ("pool_1", "pool_2"):
        layer = critic.get_layer(name)
        window = [1, layer.pool_size, layer.pool_size, 1]
        stride = [1, layer.strides, layer.strides, 1]
        shape = (BATCH, *layer.input.shape[1:])
        pools.append((name, window, stride, layer.padding.upper(), shape))
    return conv_1, pools


def _block_ms(body, arg, blocks):
    """Median ms per call of `body(arg + i)` over CALLS calls, minus the loop's own cost."""

    def run(kernel):
        @tf.function
        def block(a):
            total = tf.constant(0.0)
            for i in range(CALLS):
                total += tf.reduce_sum(kernel(a + float(i) * 1e-3))
            return total

        return median_ms(block, (arg,), calls=1, blocks=blocks) / CALLS

    return max(run(body) - run(lambda a: a), 0.0)


def philox_chain_ms(blocks):
    """One SBN draw (64 x 784 uniforms, Philox) whose seed depends on the draw before: what a
    draw costs on the critical path, where nothing runs beside it."""

    @tf.function
    def chain(seed):
        total = tf.constant(0.0)
        for _ in range(CALLS):
            u = tf.random.stateless_uniform(DRAW_SHAPE, seed=seed, alg=random_draws.ALGORITHM)
            total += u[0, 0]
            seed = seed + tf.cast(u[0, 0] * 1000, tf.int32)
        return total

    return median_ms(chain, (tf.constant([1, 2], tf.int32),), calls=1, blocks=blocks) / CALLS


def conv_1_rows(conv_1, blocks):
    """conv_1 as Conv2D and as the same convolution written depthwise (its one input channel
    times all its output channels): forward, input gradient, filter gradient."""
    rng = np.random.default_rng(0)
    x = tf.constant((rng.random(conv_1["x"]) < 0.5).astype("float32"))
    w = tf.constant(rng.normal(size=conv_1["w"]).astype("float32") * 0.1)
    dy = tf.constant(rng.normal(size=conv_1["dy"]).astype("float32"))
    conv = dict(strides=[1, 1, 1, 1], padding="VALID")  # networks.py: stride 1, 'valid'
    kernels = {
        "forward": (
            x,
            lambda a: tf.nn.conv2d(a, w, **conv),
            lambda a: tf.nn.depthwise_conv2d(a, w, **conv),
        ),
        "input gradient": (
            dy,
            lambda d: tf.raw_ops.Conv2DBackpropInput(
                input_sizes=conv_1["x"], filter=w, out_backprop=d, **conv
            ),
            lambda d: tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
                input_sizes=conv_1["x"], filter=w, out_backprop=d, **conv
            ),
        ),
        "filter gradient": (
            dy,
            lambda d: tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=conv_1["w"], out_backprop=d, **conv
            ),
            lambda d: tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
                input=x, filter_sizes=conv_1["w"], out_backprop=d, **conv
            ),
        ),
    }
    return [
        _row(f"conv_1 {name}", plain, depthwise, arg, blocks)
        for name, (arg, plain, depthwise) in kernels.items()
    ]


def _row(name, kernel, equivalent, arg, blocks):
    """(name, kernel ms, equivalent ms, whether both give the same values bit for bit)."""
    same = np.array_equal(kernel(arg).numpy(), equivalent(arg).numpy())
    return name, _block_ms(kernel, arg, blocks), _block_ms(equivalent, arg, blocks), same


def _first_max_by_argmax(x, g, window, stride, padding):
    """MaxPoolGradGrad's values by another route: the first maximum's flat index
    (MaxPoolWithArgmax), then a gather."""
    _, argmax = tf.nn.max_pool_with_argmax(x, window, stride, padding, include_batch_in_index=True)
    return tf.gather(tf.reshape(g, [-1]), argmax)


def pooling_rows(pools, blocks):
    """The pooling's second derivative (in the gradient penalty): TensorFlow's MaxPoolGradGrad
    against a MaxPoolWithArgmax + gather. Inputs with many ties (values 0, 1, 2), as the
    critic's first layer gives on binary images, so a different tie rule would show."""
    rng = np.random.default_rng(0)
    rows = []
    for name, window, stride, padding, shape in pools:
        x = tf.constant(rng.integers(0, 3, size=shape).astype("float32"))
        y = tf.nn.max_pool2d(x, window, stride, padding)
        g = tf.constant(rng.normal(size=shape).astype("float32"))
        pool = dict(ksize=window, strides=stride, padding=padding)

        def grad_grad(h, x=x, y=y, pool=pool):
            return gen_nn_ops.max_pool_grad_grad(x, y, h, **pool)

        def by_argmax(h, x=x, pool=pool):
            return _first_max_by_argmax(x, h, pool["ksize"], pool["strides"], pool["padding"])

        rows.append(_row(f"{name} second derivative", grad_grad, by_argmax, g, blocks))
    return rows


def report(blocks):
    threads = (
        os.environ.get("TF_NUM_INTRAOP_THREADS")
        or tf.config.threading.get_intra_op_parallelism_threads()
        or os.cpu_count()
    )
    lines = [
        f"TensorFlow {tf.__version__}, {threads} intra-op threads, oneDNN "
        f"{'on' if os.environ.get('TF_ENABLE_ONEDNN_OPTS', '1') != '0' else 'off'}; "
        f"median of {blocks} blocks of {CALLS} calls.",
        "",
        f"SBN draw on the critical path ({' x '.join(map(str, DRAW_SHAPE))} Philox uniforms, "
        f"each seed from the draw before): {philox_chain_ms(blocks):.3f} ms per draw",
        "",
        "| kernel | as the network runs it, ms | equivalent, ms | same values |",
        "|---|---|---|---|",
    ]
    labels = {"conv_1": "depthwise", "pool_1": "argmax + gather", "pool_2": "argmax + gather"}
    conv_1, pools = _critic_shapes()
    for name, ours, other, same in conv_1_rows(conv_1, blocks) + pooling_rows(pools, blocks):
        label = labels[name.split()[0]]
        lines.append(f"| {name} | {ours:.3f} | {other:.3f} ({label}) | {'yes' if same else 'NO'} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 blocks instead of 7 (tests)")
    ap.add_argument("--markdown", help="also write the report to this file")
    args = ap.parse_args()
    text = report(3 if args.quick else 7)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
