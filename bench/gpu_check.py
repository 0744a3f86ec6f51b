"""Does training work on this machine's GPU, in every mode a user can pick?

The code has been written for GPUs but never run on one (no session so far had a GPU). Where
a GPU is visible, this trains each objective (gan, wgan, wgan-gp) for each network (mlp,
cnn) with XLA on and off, in float32, mixed_float16 and mixed_bfloat16, for `--steps`
generator steps each, through train.py's own library (`train_lib.run_training`), and for
each run checks what a user relies on:

- the exported generator loads (`evaluate.py`'s loader) and samples,
- its samples are exactly 0 or 1 (mixed precision must not leak 0.4999 into a binary
  neuron),
- the losses stayed finite,

then prints the run's throughput (generator steps per second over the whole run, compiling
included: use a few hundred steps for a rate that means something). Without a GPU it says so and exits 0. `--device=cpu` runs the same
matrix on the CPU, a dry run of this script (the test suite uses it with tiny steps).

    python bench/gpu_check.py                        # the whole matrix on the GPU
    python bench/gpu_check.py --archs=mlp --precisions=mixed_float16 --steps=300
"""

import argparse
import itertools
import json
import os
import sys
import tempfile
import time

OBJECTIVES = ("gan", "wgan", "wgan-gp")
ARCHS = ("mlp", "cnn")
PRECISIONS = ("off", "mixed_float16", "mixed_bfloat16")
XLA = ("on", "off")


def _list(value, allowed, name):
    items = [v for v in value.split(",") if v]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise SystemExit(f"error: --{name}={bad[0]!r} is not one of {', '.join(allowed)}.")
    return items


def check_one(arch, objective, xla, precision, steps, mnist_dir, work_dir, neuron):
    """Train one configuration, export it, sample it; a dict of what was checked and seen."""
    import numpy as np

    from binarygan_tf.evaluation import pipeline
    from binarygan_tf.training import train_lib

    run_dir = os.path.join(work_dir, f"{arch}_{objective}_xla-{xla}_{precision}")
    config = train_lib.TrainConfig(
        arch=arch,
        neuron=neuron,
        objective=objective,
        mnist_dir=mnist_dir,
        out_dir=run_dir,
        overwrite=True,
        max_steps=steps,
        jit_compile=xla == "on",
        mixed_precision=precision,
        tensorboard=False,
        progress="off",
        sample_every=10**6,
        checkpoint_every=10**6,
        # the peers' protocol (bench/throughput.py): 5 critic updates a step, no 100-critic
        # warm-up, so a few hundred steps measure the steady state
        critic_warmup_until=0,
        critic_warmup_every=10**9,
    )
    started = time.perf_counter()
    result = train_lib.run_training(config, log=lambda *_: None)
    wall = time.perf_counter() - started
    losses = {k: np.asarray(v, np.float64) for k, v in result.history.items()}
    generator = pipeline.load_generator(result.generator_path)
    samples, _ = pipeline.generate(generator, 64, seed=0)
    values = set(np.unique(samples).tolist())
    return {
        "arch": arch,
        "objective": objective,
        "xla": xla,
        "precision": precision,
        "steps": result.generator_step,
        "binary": values <= {0.0, 1.0},
        "finite_losses": all(np.all(np.isfinite(v)) for v in losses.values()),
        "export_samples": int(samples.shape[0]),
        "g_steps_per_s": round(result.generator_step / max(wall, 1e-9), 2),
        "wall_s": round(wall, 1),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--objectives", default=",".join(OBJECTIVES))
    ap.add_argument("--xla", default=",".join(XLA))
    ap.add_argument("--precisions", default=",".join(PRECISIONS))
    ap.add_argument("--neuron", default="dbn", choices=("dbn", "sbn", "real"))
    ap.add_argument("--steps", type=int, default=300, help="generator steps per run")
    ap.add_argument("--mnist_dir", default=os.environ.get("BINARYGAN_MNIST_DIR"))
    ap.add_argument("--work_dir", default=None, help="run folders (default: a temporary one)")
    args = ap.parse_args(argv)
    archs = _list(args.archs, ARCHS, "archs")
    objectives = _list(args.objectives, OBJECTIVES, "objectives")
    xlas = _list(args.xla, XLA, "xla")
    precisions = _list(args.precisions, PRECISIONS, "precisions")
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"  # before TensorFlow loads

    from binarygan_tf import startup

    startup.quiet_tensorflow_import()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if args.device == "gpu" and not gpus:
        print("no GPU visible to TensorFlow here: nothing to check (exit 0).")
        return 0
    where = f"GPU ({', '.join(g.name for g in gpus)})" if args.device == "gpu" else "CPU"
    print(f"checking on the {where}: {args.steps} generator steps per run")
    failed = 0
    with tempfile.TemporaryDirectory() as scratch:
        work_dir = args.work_dir or scratch
        for arch, objective, xla, precision in itertools.product(
            archs, objectives, xlas, precisions
        ):
            try:
                row = check_one(
                    arch,
                    objective,
                    xla,
                    precision,
                    args.steps,
                    args.mnist_dir,
                    work_dir,
                    args.neuron,
                )
            except Exception as e:  # a mode that does not run is a finding, not a stop
                row = {
                    "arch": arch,
                    "objective": objective,
                    "xla": xla,
                    "precision": precision,
                    "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}",
                }
            ok = "error" not in row and row["binary"] and row["finite_losses"]
            failed += not ok
            print(("ok   " if ok else "FAIL ") + json.dumps(row), flush=True)
    print(f"{failed} of the runs failed" if failed else "every run passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
