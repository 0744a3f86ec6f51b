"""Why XLA stalls on the CNN: compile time and per-call time, piece by piece.

    python bench/xla_cnn.py [--arch=cnn] [--objective=wgan-gp] [--calls=3]

Times, with and without XLA (`tf.function(jit_compile=...)`), one critic update, one
generator update, and five critic updates written two ways: as the `tf.while_loop` our
train_step uses and unrolled in Python. The first call (trace + compile) and the mean of the
following calls are reported separately. On the CNN, XLA:CPU runs the convolutions inside the
while loop far slower than the same five updates unrolled, which is what stalls a whole
XLA-compiled CNN training step (docs/performance.md).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from binarygan_tf import train_lib  # noqa: E402


def timed(fn, args, calls):
    t0 = time.perf_counter()
    tf.nest.map_structure(lambda v: v.numpy(), fn(*args))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(calls):
        tf.nest.map_structure(lambda v: v.numpy(), fn(*args))
    return first, (time.perf_counter() - t0) / calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="cnn", choices=("mlp", "cnn"))
    ap.add_argument("--objective", default="wgan-gp")
    ap.add_argument("--calls", type=int, default=3)
    args = ap.parse_args()
    trainer = train_lib.build_trainer(
        train_lib.TrainConfig(arch=args.arch, neuron="dbn", objective=args.objective)
    )
    real = tf.cast(tf.random.uniform((64, 28, 28, 1)) < 0.19, tf.float32)
    z = tf.random.normal((64, 128))
    fake = trainer.generator(z)["samples"]

    def while5(real, fake):
        def body(i, loss):
            return i + 1, trainer.critic_update(real, fake)[0]

        return tf.while_loop(lambda i, _: i < 5, body, (tf.constant(0), tf.constant(0.0)))[1]

    def unrolled5(real, fake):
        loss = tf.constant(0.0)
        for _ in range(5):
            loss = trainer.critic_update(real, fake)[0]
        return loss

    pieces = [
        ("critic update", trainer.critic_update, (real, fake)),
        ("generator update", trainer.generator_update, (z,)),
        ("5 critic updates, tf.while_loop", while5, (real, fake)),
        ("5 critic updates, unrolled", unrolled5, (real, fake)),
    ]
    print(
        f"{args.arch} {args.objective}: first call (trace+compile) / mean of {args.calls} "
        f"further calls"
    )
    print("| piece | no XLA: first s | no XLA: ms/call | XLA: first s | XLA: ms/call |")
    print("|---|---|---|---|---|")
    for name, fn, fn_args in pieces:
        row = [name]
        for jit in (False, True):
            first, per = timed(tf.function(fn, jit_compile=jit), fn_args, args.calls)
            row += [f"{first:.2f}", f"{per * 1000:.1f}"]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
