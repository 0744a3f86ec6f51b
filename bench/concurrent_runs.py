"""Do N runs side by side, the cores split between them, finish the paper's sweep sooner than
the same runs one after another? (issue #25 point 2: `reproduce.py --jobs`)

Small MLP matmuls do not keep two threads busy, so two runs pinned to one core each may
together do more generator steps per second than one run on both cores. For each of the
paper's eleven configurations (experiments.RUNS without the seed repeats) this measures, on
real MNIST with the throughput benchmark's worker (`bench/throughput.py --worker`: the
default flags of the run, steady-state blocks after a warm-up):

- alone: one worker on all the cores this process may use (pinned to them, with as many
  intra-op threads: TensorFlow's own default);
- side by side: `--jobs` workers of the same configuration at once, each pinned to its share
  of the cores with TF_NUM_INTRAOP_THREADS set to the share's size, exactly as
  `reproduce.py --jobs` starts its runs (binarygan_tf/reproduction/pinned_runs.py).

Then it derives the sweep's wall time from these per-step costs: each run's generator steps
at the paper's budget (20 epochs of 1,093), times the authors' critic schedule (their
100-critic warm-up and its repeats make a paper run 1.049x the critic updates of 5 per step
that the worker times), one after another (jobs=1) and as reproduce.py schedules them side by
side (longest first onto the free slot, progress.makespan). A run's fixed costs (start-up,
compilation, samples, checkpoints) are not in the blocks; `--fixed_seconds` adds them per run
(default 60 s: an assumption, not a measurement, stated as such wherever the result is).

    python bench/concurrent_runs.py --mnist_dir=../shared/mnist --jobs=2
    python bench/concurrent_runs.py --runs=exp1_mlp_dbn,exp4_cnn_dbn --rounds=2

Take no other load while it runs: both modes need the same idle cores.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from binarygan_tf.reproduction import experiments, pinned_runs, progress  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS_PER_EPOCH = 1093  # 70,000 images / 64 (the authors' data: train and test together)


def paper_configurations():
    """{run name: (arch:neuron:objective, TrainConfig overrides)} of the eleven configurations."""
    out = {}
    profile = experiments.PROFILES["paper"]
    for spec in experiments.RUNS:
        if spec.config is not None:  # a seed repeat of a configuration already listed
            continue
        config = experiments.run_config(spec, profile, runs_dir="/nonexistent")
        out[spec.name] = (
            f"{config.arch}:{config.neuron}:{config.objective}",
            {"follow": config.follow},
        )
    return out


def schedule_factor():
    """Critic updates + generator updates of a paper run, over the worker's 5 + 1 per step."""
    from binarygan_tf.authors import presets

    steps = 20 * STEPS_PER_EPOCH
    updates = sum(presets.critic_count(k) + 1 for k in range(steps))
    return updates / (steps * (presets.CRITICS + 1))


def worker_command(config, overrides, args):
    steps = args.cnn_steps if config.startswith("cnn") else args.steps
    return [
        sys.executable,
        os.path.join(HERE, "throughput.py"),
        f"--worker={config}",
        f"--steps={steps}",
        f"--warmup={args.warmup}",
        f"--repeats={args.repeats}",
        f"--mnist_dir={args.mnist_dir}",
        f"--overrides={json.dumps(overrides)}",
    ]


def _record(path):
    with open(path) as f:
        lines = [line for line in f if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def measure(config, overrides, jobs, args, log_dir, tag):
    """Steps/s of each of `jobs` workers of `config` started together, each pinned to its
    share of the usable cores as `reproduce.py --jobs` pins its runs (jobs=1: the run alone)."""
    procs = []
    for i, share in enumerate(pinned_runs.shares(pinned_runs.usable_cores(), jobs)):
        log_path = os.path.join(log_dir, f"{tag}_{i}.log")
        child = pinned_runs.Child(
            name=f"{tag}_{i}", command=worker_command(config, overrides, args), log_path=log_path
        )
        procs.append((pinned_runs.start(child, share), log_path))
    for proc, _ in procs:
        proc.wait(timeout=args.timeout)
    rates = []
    for _, log_path in procs:
        record = _record(log_path)
        if record is None:
            raise SystemExit(f"a worker of {config} gave no result; see {log_path}")
        rates.append(record["g_steps_per_s"])
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default=None, help="comma-separated run names (default: all 11)")
    ap.add_argument("--jobs", type=int, default=2, help="runs side by side")
    ap.add_argument("--rounds", type=int, default=1, help="alone / side by side, interleaved")
    ap.add_argument("--steps", type=int, default=100, help="generator steps per MLP block")
    ap.add_argument("--cnn_steps", type=int, default=20, help="generator steps per CNN block")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--fixed_seconds", type=float, default=60.0, help="per run, see above")
    ap.add_argument("--mnist_dir", default=os.path.join(HERE, "..", "..", "shared", "mnist"))
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--out", default=os.path.join("runs", "concurrent_runs"))
    ap.add_argument("--json", default=None, help="write every measurement to this file")
    args = ap.parse_args()
    pinned_runs.check_jobs(args.jobs)
    configurations = paper_configurations()
    names = args.runs.split(",") if args.runs else list(configurations)
    unknown = [n for n in names if n not in configurations]
    if unknown:
        raise SystemExit(f"error: --runs: not one of the eleven: {', '.join(unknown)}")
    os.makedirs(args.out, exist_ok=True)
    factor = schedule_factor()
    steps = 20 * STEPS_PER_EPOCH
    print(
        f"{len(names)} configurations, alone vs {args.jobs} side by side on cores "
        f"{pinned_runs.usable_cores()}, {args.rounds} round(s); a paper run: {steps:,} "
        f"generator steps, {factor:.4f}x the timed updates (the critic schedule)",
        flush=True,
    )
    results = {}
    for name in names:
        config, overrides = configurations[name]
        alone, side = [], []
        for r in range(args.rounds):
            alone += measure(config, overrides, 1, args, args.out, f"{name}_alone_r{r}")
            side += measure(config, overrides, args.jobs, args, args.out, f"{name}_jobs_r{r}")
        a, s = statistics.median(alone), statistics.median(side)
        results[name] = dict(config=config, overrides=overrides, alone=alone, side_by_side=side)
        print(
            f"{name:24s} {config:18s} alone {a:6.2f} steps/s; {args.jobs} side by side "
            f"{s:6.2f} each, {args.jobs * s:6.2f} together ({args.jobs * s / a:.2f}x)",
            flush=True,
        )

    def cost(name, mode):
        rate = statistics.median(results[name][mode])
        return steps * factor / rate + args.fixed_seconds

    one_by_one = sum(cost(n, "alone") for n in names)
    order = progress.longest_first(names, lambda n: cost(n, "side_by_side"))
    side_by_side = progress.makespan([cost(n, "side_by_side") for n in order], args.jobs)
    print()
    print(
        f"The {len(names)} runs at the paper's budget, derived from these rates "
        f"(+{args.fixed_seconds:.0f} s per run): one after another "
        f"{one_by_one / 3600:.2f} h; {args.jobs} side by side, longest first "
        f"{side_by_side / 3600:.2f} h ({one_by_one / side_by_side:.2f}x)."
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(
                    measured=time.strftime("%Y-%m-%d %H:%M"),
                    jobs=args.jobs,
                    schedule_factor=factor,
                    fixed_seconds=args.fixed_seconds,
                    runs=results,
                    hours_one_after_another=one_by_one / 3600,
                    hours_side_by_side=side_by_side / 3600,
                    order_side_by_side=order,
                ),
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
