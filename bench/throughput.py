"""Training throughput of binarygan-tf, side by side with the peers, as a markdown table.

    python bench/throughput.py                                   # ours only, default configs
    python bench/throughput.py --peers=tf1,torch --rounds=2      # interleaved with the peers
    python bench/throughput.py --peers=authors                   # the authors' own TF1 code
    python bench/throughput.py --markdown=docs/performance_table.md

What is timed is exactly what `train.py` runs: `fit()` over `train_step` with the default
flags, on the paper's batch size (64) and real data shapes. As in the peers' protocol, the
authors' 100-critic warm-up is left out (one generator step = 5 critic updates + 1 generator
update). Each configuration runs in its own process (so peak memory is its own): warm-up
steps first (compilation included), then `--repeats` timed blocks; the median block is
reported. With `--peers`, each round runs ours then each peer for every configuration
(A B A B ...), so drift in machine speed hits both; the ratio is the median over rounds of
the per-round ratios.

The "authors" peer is the authors' own code (salu133445/binarygan, unmodified, from
`--authors_repo`), run by `python -m binarygan_tf.authors.worker` with its import-time shims
(binarygan_tf/authors/runtime.py): their model class built from their presets for each
configuration, and their training loop's body driven as their `train()` drives it, one
`sess.run` per critic update and one per generator update, each fed a numpy batch through
`feed_dict`, with the log lines it writes after each (which read `global_step` with one more
`sess.run`). It needs tf-keras and imageio (`pip install 'binarygan-tf[authors]'`), and,
unlike the other peers, runs every objective. Like ours it imports binarygan_tf first, so it
runs TensorFlow's oneDNN kernels too (like "tf1-onednn").

FLOPs per generator step are counted, not estimated: TensorFlow's graph profiler sums the
float operations of one critic update and one generator update as traced by our own code
(5 critic + 1 generator update = the minimal step). The matmul peak (float32 `tf.matmul` on
2048x2048, best of 7) is measured again right before each configuration in every round, and
"% of peak" is the median over rounds of achieved FLOP/s over that round's peak: this machine's
speed drifts by 10-20% within minutes, so a peak taken once at the start can sit in a slow
minute and put a later fast run above 100%.
"""

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS_DIR = os.path.join(REPO, "..", "shared", "peers")
DEFAULT_MNIST = os.path.join(REPO, "..", "shared", "mnist")
DEFAULT_CONFIGS = (
    "mlp:dbn:wgan-gp,mlp:sbn:wgan-gp,mlp:dbn:wgan,mlp:dbn:gan,"
    "cnn:dbn:wgan-gp,cnn:dbn:wgan,cnn:dbn:gan"
)
N_CRITIC = 5  # the peers' protocol: the schedule without its 100-critic warm-up
# tf1-onednn is the TF1 peer with TensorFlow's oneDNN kernels forced on, as binarygan_tf turns
# them on for itself: TensorFlow enables them by default only on some x86 CPUs, so on others
# "tf1" runs with TensorFlow's defaults and "tf1-onednn" with the same kernels as ours.
PEERS = {
    "tf1": "tf1_authors_style.py",
    "tf1-onednn": "tf1_authors_style.py",
    "torch": "torch_ref.py",
    "authors": None,
}  # authors: binarygan_tf/authors/worker.py


def _busy_seconds():
    with open("/proc/stat") as f:
        v = [int(t) for t in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- worker: one configuration
def count_flops(trainer, batch_size):
    """Float operations of one critic update and one generator update, from their graphs."""
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder

    from binarygan_tf.model.networks import LATENT_DIM

    real = tf.TensorSpec([batch_size, 28, 28, 1], tf.float32)
    z = tf.TensorSpec([batch_size, LATENT_DIM], tf.float32)
    critic = tf.function(trainer.critic_update).get_concrete_function(real, real)
    generator = tf.function(trainer.generator_update).get_concrete_function(z)
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"

    def flops(fn):
        return model_analyzer.profile(fn.graph, options=options).total_float_ops

    return flops(critic), flops(generator)


def build_bench_run(config_name, overrides="{}", trainer_overrides="{}", mnist_dir=DEFAULT_MNIST):
    """(config, trainer, dataset, data source) exactly as `train.py` would build them, with the
    peers' protocol (5 critic updates per generator step, no 100-critic warm-up). Shared by
    this benchmark and `bench/profile_step.py`."""
    import binarygan_tf  # noqa: F401, I001  first: it sets TensorFlow's load-time defaults
    import keras
    import numpy as np

    from binarygan_tf.training import data, train_lib

    arch, neuron, objective = config_name.split(":")
    config = train_lib.TrainConfig(
        arch=arch,
        neuron=neuron,
        objective=objective,
        critic_warmup_until=0,
        critic_warmup_every=10**12,
        critic_steps=N_CRITIC,
        **json.loads(overrides),
    )
    config.validate()
    try:
        images = data.binarize(data.load_mnist_split("train", mnist_dir)[0])
        source = "MNIST"
    except Exception:  # no real data here: random binary images of the same shape
        images = (np.random.default_rng(0).random((6400, 28, 28, 1)) < 0.19).astype(np.uint8)
        source = "random"
    keras.utils.set_random_seed(0)
    trainer = train_lib.build_trainer(config)
    for name, value in json.loads(trainer_overrides).items():
        if not hasattr(trainer, name):
            raise SystemExit(f"--trainer_overrides: the trainer has no attribute {name!r}")
        setattr(trainer, name, value)  # before the first fit(), i.e. before tracing
    dataset = data.make_training_dataset(images, config.batch_size, 0)
    return config, trainer, dataset, source


def worker(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    arch, neuron, objective = args.worker.split(":")
    config, trainer, dataset, source = build_bench_run(
        args.worker, args.overrides, args.trainer_overrides, args.mnist_dir
    )
    spe = config.resolved_steps_per_execution
    steps = max(spe, args.steps // spe * spe)
    warmup = max(spe, args.warmup // spe * spe)

    blocks, usage = [], []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = (time.perf_counter(), time.process_time(), _busy_seconds())

        def on_epoch_end(self, epoch, logs=None):
            wall = time.perf_counter() - self.start[0]
            own = time.process_time() - self.start[1]
            other = max(_busy_seconds() - self.start[2] - own, 0.0)
            blocks.append(wall)
            usage.append(round(other / wall, 2))

    t0 = time.perf_counter()
    trainer.fit(dataset, epochs=1, steps_per_epoch=warmup, verbose=0, shuffle=False)
    warmup_s = time.perf_counter() - t0
    trainer.fit(
        dataset,
        epochs=args.repeats,
        steps_per_epoch=steps,
        verbose=0,
        shuffle=False,
        callbacks=[Timer()],
    )
    median = statistics.median(blocks)
    critic_flops, generator_flops = count_flops(trainer, config.batch_size)
    step_flops = N_CRITIC * critic_flops + generator_flops
    rate = steps / median
    print(
        json.dumps(
            {
                "impl": "binarygan_tf",
                "arch": arch,
                "neuron": neuron,
                "objective": objective,
                "g_steps_per_s": round(rate, 3),
                "d_plus_g_updates_per_s": round(rate * (N_CRITIC + 1), 2),
                "median_block_s": round(median, 3),
                "block_s": [round(b, 3) for b in blocks],
                "other_cores_per_block": usage,
                "warmup_s": round(warmup_s, 2),
                "g_steps_per_block": steps,
                "warmup_g_steps": warmup,
                "data": source,
                "jit_compile": config.resolved_jit_compile,
                "steps_per_execution": spe,
                "follow": config.follow,
                "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TF default"),
                "share_generator_forward": trainer.share_generator_forward,
                "flops_per_g_step": step_flops,
                "critic_update_flops": critic_flops,
                "generator_update_flops": generator_flops,
                "achieved_gflops": round(step_flops * rate / 1e9, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        ),
        flush=True,
    )


def matmul_peak_worker():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    n = 2048
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))

    @tf.function
    def mm(a, b):
        return tf.reduce_sum(tf.matmul(a, b))

    mm(a, b).numpy()
    best = float("inf")
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(5):
            mm(a, b).numpy()
        best = min(best, (time.perf_counter() - t0) / 5)
    print(json.dumps({"matmul_peak_gflops": round(2 * n**3 / best / 1e9, 1)}), flush=True)


# ---------------------------------------------------------------- driver
def _json_lines(cmd, timeout, env=None):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        print(f"  timed out: {' '.join(cmd)}", file=sys.stderr)
        return []
    if proc.returncode != 0:
        print(
            f"  failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-1500:]}", file=sys.stderr
        )
    out = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                out.append(json.loads(line))
    return out


def run_ours(config, args, steps, overrides=None, trainer_overrides=None, env=None):
    """One worker process; `overrides`/`trainer_overrides`/`env` default to the command's
    (bench/ab_levers.py passes a variant's own)."""
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        f"--worker={config}",
        f"--steps={steps}",
        f"--warmup={args.warmup}",
        f"--repeats={args.repeats}",
        f"--mnist_dir={args.mnist_dir}",
        f"--overrides={overrides or args.overrides}",
        f"--trainer_overrides={trainer_overrides or args.trainer_overrides}",
    ]
    records = _json_lines(cmd, args.timeout, env)
    return records[-1] if records else None


def run_authors(config, args, steps):
    """The authors' own code on `config` (every objective), through the authors worker."""
    from binarygan_tf.authors import client

    request = {
        "command": "bench",
        "config": config,
        "steps": steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "n_critic": N_CRITIC,
        "mnist_dir": args.mnist_dir,
        "authors_repo": args.authors_repo,
    }
    cmd = client.worker_command(json.dumps(request))
    records = [
        r for r in _json_lines(cmd, args.timeout, client.worker_env()) if "g_steps_per_s" in r
    ]
    return records[-1] if records else None


def run_peer(peer, config, args, steps):
    if peer == "authors":
        return run_authors(config, args, steps)
    arch, neuron, objective = config.split(":")
    if objective != "wgan-gp":
        return None  # the peers implement WGAN-GP only
    script = PEERS[peer]
    python = args.torch_python if peer == "torch" else sys.executable
    cmd = [
        python,
        os.path.join(PEERS_DIR, script),
        f"--configs={arch}:{neuron}",
        f"--steps={steps}",
        f"--warmup={args.warmup}",
        f"--repeats={args.repeats}",
        "--quiet-wait=0",
        f"--mnist={os.path.join(args.mnist_dir, 'train-images-idx3-ubyte.gz')}",
    ]
    if peer == "torch":
        cmd.append("--bn=affine")  # the authors' inference-mode BN, like ours by default
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1") if peer == "tf1-onednn" else None
    records = [r for r in _json_lines(cmd, args.timeout, env) if "g_steps_per_s" in r]
    return records[-1] if records else None


def machine():
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import tensorflow as tf

    return f"{cpu}, {os.cpu_count()} cores; TensorFlow {tf.__version__}"


def percent_of_peak(rounds):
    """Median over rounds of our achieved FLOP/s over the matmul peak measured beside it."""
    shares = [
        r["ours"]["flops_per_g_step"] * r["ours"]["g_steps_per_s"] / 1e9 / r["matmul_peak"]
        for r in rounds
        if r["ours"] and math.isfinite(r.get("matmul_peak", math.nan))
    ]
    return 100 * statistics.median(shares) if shares else float("nan")


def measure_peak():
    found = _json_lines([sys.executable, os.path.abspath(__file__), "--matmul_peak"], 300)
    return found[0]["matmul_peak_gflops"] if found else float("nan")


def markdown(results, args, command):
    peers = args.peers
    head = ["config", "ours g-steps/s", "ours updates/s"]
    for p in peers:
        head += [f"{p} g-steps/s", f"ours / {p}"]
    head += ["GFLOP / g-step", "achieved GFLOP/s", "% of matmul peak", "peak RSS MB"]
    peaks = [
        r["matmul_peak"]
        for rounds in results.values()
        for r in rounds
        if math.isfinite(r.get("matmul_peak", math.nan))
    ]
    peak_text = (
        f"{statistics.median(peaks):.0f} GFLOP/s (median; {min(peaks):.0f}-"
        f"{max(peaks):.0f} over the {len(peaks)} measurements beside each run)"
        if peaks
        else "n/a"
    )
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {machine()}; float32 matmul "
        f"peak {peak_text}. Command: `{command}`",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for config, rounds in results.items():
        ours = [r["ours"] for r in rounds if r["ours"]]
        if not ours:
            continue
        rate = statistics.median(o["g_steps_per_s"] for o in ours)
        first = ours[0]
        row = [config, f"{rate:.2f}", f"{rate * (N_CRITIC + 1):.1f}"]
        for p in peers:
            peer_rates = [r[p]["g_steps_per_s"] for r in rounds if r.get(p)]
            ratios = [
                r["ours"]["g_steps_per_s"] / r[p]["g_steps_per_s"]
                for r in rounds
                if r.get(p) and r["ours"]
            ]
            row += [
                f"{statistics.median(peer_rates):.2f}" if peer_rates else "n/a",
                f"**{statistics.median(ratios):.2f}x**" if ratios else "n/a",
            ]
        gflop = first["flops_per_g_step"] / 1e9
        row += [
            f"{gflop:.2f}",
            f"{gflop * rate:.0f}",
            f"{percent_of_peak(rounds):.0f}%",
            f"{max(o['peak_rss_mb'] for o in ours):.0f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--configs", default=DEFAULT_CONFIGS, help="comma-separated arch:neuron:objective"
    )
    ap.add_argument("--peers", default="", help="comma-separated: " + ", ".join(PEERS))
    ap.add_argument("--rounds", type=int, default=1, help="A B A B rounds")
    ap.add_argument("--steps", type=int, default=200, help="generator steps per MLP block")
    ap.add_argument("--cnn_steps", type=int, default=40, help="generator steps per CNN block")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mnist_dir", default=DEFAULT_MNIST)
    ap.add_argument("--torch_python", default=os.path.expanduser("~/.venvs/torch/bin/python"))
    ap.add_argument(
        "--authors_repo",
        default=None,
        help="checkout of salu133445/binarygan for the authors peer (default "
        "../shared/authors_code)",
    )
    ap.add_argument(
        "--overrides",
        default="{}",
        help="TrainConfig settings as JSON, e.g. '{\"jit_compile\": false}'",
    )
    ap.add_argument(
        "--trainer_overrides",
        default="{}",
        help="trainer attributes as JSON, e.g. '{\"share_generator_forward\": false}'",
    )
    ap.add_argument("--markdown", default=None, help="write the table to this file")
    ap.add_argument("--json", default=None, help="write all records to this file")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--matmul_peak", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.matmul_peak:
        return matmul_peak_worker()
    if args.worker:
        return worker(args)
    args.peers = [p for p in args.peers.split(",") if p]
    for p in args.peers:
        if p not in PEERS:
            ap.error(f"unknown peer {p!r}; known: {', '.join(PEERS)}")
    if "authors" in args.peers:
        from binarygan_tf.authors import client, repository

        if client.missing_packages():
            ap.error(
                f"--peers=authors needs {', '.join(client.missing_packages())}: pip "
                f"install 'binarygan-tf[authors]'"
            )
        try:
            args.authors_repo = repository.resolve(args.authors_repo)
        except Exception as e:  # a UserError: say it in argparse's way
            ap.error(str(e))
    if "torch" in args.peers and not os.path.exists(args.torch_python):
        ap.error(
            f"--torch_python {args.torch_python} does not exist; see "
            f"../shared/peers/README.md for the one-line venv"
        )
    command = "python bench/throughput.py " + " ".join(sys.argv[1:])
    configs = args.configs.split(",")
    results = {c: [] for c in configs}
    for r in range(args.rounds):
        for config in configs:
            steps = args.cnn_steps if config.startswith("cnn") else args.steps
            record = {"matmul_peak": measure_peak(), "ours": run_ours(config, args, steps)}
            for p in args.peers:
                record[p] = run_peer(p, config, args, steps)
            results[config].append(record)
            parts = [
                f"ours {record['ours']['g_steps_per_s']:.2f}" if record["ours"] else "ours failed"
            ]
            parts += [f"{p} {record[p]['g_steps_per_s']:.2f}" for p in args.peers if record[p]]
            print(
                f"round {r + 1}/{args.rounds} {config}: {', '.join(parts)} g-steps/s "
                f"(matmul peak {record['matmul_peak']} GFLOP/s)",
                flush=True,
            )
    table = markdown(results, args, command)
    print("\n" + table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"results": results, "command": command}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
