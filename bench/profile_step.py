"""Where the time of one training step goes: a `tf.profiler` trace of `fit()` on the default
flags, summed by kind of work.

    python bench/profile_step.py --config=mlp:dbn:wgan-gp --steps=40
    python bench/profile_step.py --config=cnn:dbn:wgan-gp --steps=8 --markdown=bench/results/profile_cnn.md

For every speed target missed (docs/performance.md), the profile shows where the time goes.
Throughput alone cannot say whether a step is bound by its matrix products (then only fewer or
larger products help) or by everything around them (then fusion, fewer launches or fewer Python
round trips help). This runs the same trainer as `bench/throughput.py` (its `build_bench_run`),
warms up, traces `--steps` generator steps, and sums the duration of every executed kernel by
category. With XLA on, XLA:CPU is asked to emit one trace event per thunk
(`--xla_cpu_enable_xprof_traceme`), so its dots and fused elementwise kernels appear by name;
without XLA the events are TensorFlow's own ops (`layer/path:OpType`).

Kernel durations are summed over all threads: two kernels running side by side both count,
so on 2 cores the sum can reach 2x the wall time, while a kernel that splits itself over both
cores counts once, for its wall time. A sum well under the wall time means waiting
(dependencies, thread hand-offs, Python between executions). The trace stays in `--logdir` for TensorBoard's
profile plugin.
"""

import argparse
import collections
import glob
import os
import re
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))

# Trace events that wrap other events (executor bookkeeping, thread-pool plumbing); counting
# them would count the kernels inside twice.
_WRAPPERS = (
    "ParallelFor",
    "while",
    "call",
    "conditional",
    "BlockUntilReady",
    "ExecutorDoneCallback",
)

CATEGORIES = (
    "matmul",
    "convolution",
    "pooling",
    "elementwise (fused)",
    "elementwise",
    "copy / transpose",
    "reduction",
    "other",
)


def categorize(event_name):
    """(category, label) of one trace event, or None for wrappers and bookkeeping."""
    if "::" in event_name or event_name in _WRAPPERS or event_name.startswith("end: "):
        return None
    if ":" in event_name:  # a TensorFlow op, "scope/layer/Op:OpType"
        path, op = event_name.rsplit(":", 1)
        layer = re.search(r"(discriminator|generator)(?:_\d+)?/(\w+?)(?:_\d+)?/", path)
        where = (
            "2nd-order grad"
            if "gradient_tape/gradient_tape" in path
            else ("grad" if "gradient_tape" in path else "forward")
        )
        label = f"{op} ({layer.group(1)}/{layer.group(2)}, {where})" if layer else op
        if "MatMul" in op:
            return "matmul", label
        if "Conv" in op:
            return "convolution", label
        if "Pool" in op:
            return "pooling", label
        if op in ("Sum", "Mean", "Max", "BiasAddGrad"):
            return "reduction", label
        if op in ("Transpose", "Identity", "ConcatV2", "Slice", "StridedSlice"):
            return "copy / transpose", label
        if (
            op.endswith("VariableOp")
            or op.startswith("Resource")
            or op in ("ReadVariableOp", "Const", "NoOp")
        ):
            return "other", label
        return "elementwise", label
    base = re.sub(r"\.\d+$", "", event_name)  # an XLA thunk, e.g. "MatMul.226"
    if base.startswith(("MatMul", "dot", "BatchMatMul")):
        return "matmul", base
    if base.startswith(("convolution", "Conv")):
        return "convolution", base
    if "reduce" in base:
        return "reduction", base
    if "fusion" in base:
        return "elementwise (fused)", base
    if base.startswith(("copy", "transpose", "wrapped_copy", "wrapped_transpose", "bitcast")):
        return "copy / transpose", base
    if base.startswith("wrapped_"):
        return "elementwise", base
    return "other", base


def summarize(logdir):
    """Per-category and per-label summed kernel milliseconds from the newest trace in logdir."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = sorted(
        glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True), key=os.path.getmtime
    )
    if not files:
        raise SystemExit(f"no trace (*.xplane.pb) under {logdir}")
    space = xplane_pb2.XSpace()
    with open(files[-1], "rb") as f:
        space.ParseFromString(f.read())
    by_category, by_label = collections.Counter(), collections.Counter()
    calls = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            if not line.name.startswith(("tf_Compute", "tf_numa", "tf_inter", "tf_intra")):
                continue
            for event in line.events:
                kind = categorize(plane.event_metadata[event.metadata_id].name)
                if kind is None:
                    continue
                ms = event.duration_ps / 1e9
                by_category[kind[0]] += ms
                by_label[kind] += ms
                calls[kind] += 1
    return by_category, by_label, calls, files[-1]


def report(config_name, jit, steps, wall, by_category, by_label, calls, cores, top=12):
    per_step = 1000 * wall / steps
    busy = sum(by_category.values())
    lines = [
        f"`{config_name}`, XLA {'on' if jit else 'off'}: {steps} generator steps traced, "
        f"{per_step:.1f} ms per step (wall, under the profiler); kernel durations sum "
        f"to {busy / steps:.1f} ms per step, {100 * busy / (1000 * wall):.0f}% of the wall "
        f"time ({cores} cores).",
        "",
        "| kind of work | ms per step (summed over threads) | share of kernel time |",
        "|---|---|---|",
    ]
    for cat in CATEGORIES:
        if by_category.get(cat):
            lines.append(
                f"| {cat} | {by_category[cat] / steps:.1f} | {100 * by_category[cat] / busy:.0f}% |"
            )
    lines += [
        "",
        f"Top {top} kernels:",
        "",
        "| kernel | kind | calls per step | ms per step | share |",
        "|---|---|---|---|---|",
    ]
    for (cat, label), ms in by_label.most_common(top):
        lines.append(
            f"| {label} | {cat} | {calls[(cat, label)] / steps:.1f} | "
            f"{ms / steps:.2f} | {100 * ms / busy:.1f}% |"
        )
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="mlp:dbn:wgan-gp", help="arch:neuron:objective")
    ap.add_argument("--steps", type=int, default=40, help="generator steps to trace")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--mnist_dir", default=os.path.join(BENCH, "..", "..", "shared", "mnist"))
    ap.add_argument("--overrides", default="{}", help="TrainConfig settings as JSON")
    ap.add_argument(
        "--logdir", default=None, help="trace directory (default bench/results/profile/<config>)"
    )
    ap.add_argument("--markdown", default=None, help="also write the report to this file")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    # Must be set before XLA initialises: one trace event per XLA thunk.
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true"
    ).strip()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import binarygan_tf  # noqa: F401, I001  first: it sets TensorFlow's load-time defaults
    import tensorflow as tf

    if __package__:  # imported as bench.profile_step (the tests, python -m)
        from bench.throughput import build_bench_run
    else:  # run as a script: this folder is sys.path[0]
        from throughput import build_bench_run

    logdir = args.logdir or os.path.join(BENCH, "results", "profile", args.config.replace(":", "_"))
    config, trainer, dataset, _ = build_bench_run(args.config, args.overrides, "{}", args.mnist_dir)
    trainer.fit(dataset, epochs=1, steps_per_epoch=args.warmup, verbose=0)
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    trainer.fit(dataset, epochs=1, steps_per_epoch=args.steps, verbose=0)
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    by_category, by_label, calls, trace = summarize(logdir)
    text = report(
        args.config,
        config.resolved_jit_compile,
        args.steps,
        wall,
        by_category,
        by_label,
        calls,
        os.cpu_count(),
        args.top,
    )
    command = "python bench/profile_step.py " + " ".join(sys.argv[1:])
    text = f"Command: `{command}`. Trace: `{os.path.relpath(trace)}`.\n\n" + text
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    sys.exit(main())
