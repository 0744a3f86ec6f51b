"""Interleaved A/B timing of one configuration under several variants (a lever each).

    python bench/ab_levers.py --config=cnn:dbn:wgan-gp --rounds=2 --steps=16 \\
        --variant='base' --variant='onednn|env=TF_ENABLE_ONEDNN_OPTS=1'
    python bench/ab_levers.py --config=mlp:dbn:wgan-gp --rounds=3 \\
        --variant='base' --variant='spe50|overrides={"steps_per_execution": 50}'

Machine speed here drifts by 10-20% over minutes, so a lever is only measured against the
default in the same invocation, variants interleaved per round (A B A B ...), and read off the
medians. Each variant runs `bench/throughput.py --worker` in a fresh process (environment
variables such as TF_ENABLE_ONEDNN_OPTS or XLA_FLAGS are read when TensorFlow loads).

A variant is `label|key=value|key=value`, keys: `env` (NAME=VALUE, `;`-separated),
`overrides` (TrainConfig JSON), `trainer_overrides` (trainer attributes JSON).
"""

import argparse
import json
import os
import statistics
import sys

if __package__:  # imported as bench.ab_levers (the tests, python -m)
    from bench import throughput
else:  # run as a script: this folder is sys.path[0]
    import throughput  # the worker and how it is run


def parse_variant(text):
    label, *parts = text.split("|")
    variant = {"label": label, "env": {}, "overrides": "{}", "trainer_overrides": "{}"}
    for part in parts:
        key, _, value = part.partition("=")
        if key == "env":
            for item in filter(None, value.split(";")):
                name, _, v = item.partition("=")
                variant["env"][name] = v
        elif key in ("overrides", "trainer_overrides"):
            json.loads(value)  # fail now on bad JSON, not after an hour
            variant[key] = value
        else:
            raise SystemExit(
                f"variant {text!r}: unknown key {key!r} (env, overrides, trainer_overrides)"
            )
    return variant


def run(variant, args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **variant["env"])
    record = throughput.run_ours(
        args.config, args, args.steps, variant["overrides"], variant["trainer_overrides"], env
    )
    return record["g_steps_per_s"] if record else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="mlp:dbn:wgan-gp")
    ap.add_argument(
        "--variant",
        action="append",
        required=True,
        help="label|env=A=1;B=2|overrides={...}|trainer_overrides={...}",
    )
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mnist_dir", default=throughput.DEFAULT_MNIST)
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    variants = [parse_variant(v) for v in args.variant]
    rates = {v["label"]: [] for v in variants}
    for r in range(args.rounds):
        for v in variants:
            rates[v["label"]].append(run(v, args))
            print(
                f"round {r + 1}/{args.rounds} {v['label']}: {rates[v['label']][-1]:.2f} g-steps/s",
                flush=True,
            )
    base = statistics.median(rates[variants[0]["label"]])
    print(f"\n{args.config}, {args.rounds} interleaved rounds, generator steps/s:")
    for label, values in rates.items():
        median = statistics.median(values)
        print(
            f"  {label:24s} median {median:7.2f} ({median / base - 1:+.0%} vs "
            f"{variants[0]['label']})  runs {', '.join(f'{x:.2f}' for x in values)}"
        )


if __name__ == "__main__":
    sys.exit(main())
