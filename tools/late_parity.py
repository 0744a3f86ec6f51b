"""Late-training parity (issue #28, 2a): every update, ours against the authors' code, from
one of THEIR checkpoints a few epochs into a run.

Why: the parity test (tests/test_authors_parity.py) covers 30 generator steps from
initialization at batch 4, where G moves by 1e-8 to 1e-5 per step and the RMSProp
accumulators are still near their initial 1. Under WGAN our runs and theirs part later
(docs/authors_code.md). Here both codes start from one of their Saver checkpoints, where the
accumulators have decayed, the critic's weights sit on the clip and G's sigmoids saturate
(the tool measures and prints each), and run `--steps` generator steps on real MNIST batches
of `--batch` (binarized pixel > 0, as training) with normal z, compared update for update
under the same measured bound as the parity test (binarygan_tf/authors/parity.py: ours
through TensorFlow's kernels and through XLA, each against theirs, within NOISE_MULTIPLE x
the kernels-against-XLA distance of that update or the float32 floors).

Their worker restores the checkpoint with their own `Model.load` after `init_all`; both
sides' critic schedules count from the checkpoint's generator step, which is read from its
global step (critic and generator updates; parity.generator_step_of) and checked against
compare_authors.py's authors_progress.json when one is beside it.

    python tools/late_parity.py --checkpoint=runs/wgan_markers/theirs_seed3 --mnist_dir=../shared/mnist
    python tools/late_parity.py --checkpoint=DIR/BinaryGAN.model-29367 --out=runs/late_parity/x.json

Prints the state at the checkpoint, one line per single update (its worst variable of each
kind as a share of its bound, as parity.report), the worst share per update point, and any
violation; writes it all as JSON to `--out`. Exit status 1 when an update breaks its bound.
"""

import json
import os
import sys
import tempfile
import time

from absl import flags

from binarygan_tf.errors import UserError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Saturation of G's output sigmoids: a preactivated value within this of 0 or 1.
SATURATED = 1e-3


def define_flags():
    """The flags, defined only when run as a program (other tools define some of the same
    names, and tests import the modules of tools/ side by side)."""
    from binarygan_tf.authors import parity, presets

    flags.DEFINE_string(
        "checkpoint",
        None,
        "One of their checkpoints: its prefix (.../BinaryGAN.model-N), a folder of them or "
        "a compare_authors.py run directory (its newest).",
    )
    flags.DEFINE_enum("arch", "mlp", list(presets.ARCHS), "Their mlp_* or cnn_* presets.")
    flags.DEFINE_enum("neuron", "dbn", list(presets.NEURONS), "As compare_authors.py --neuron.")
    flags.DEFINE_enum("objective", "wgan", list(presets.OBJECTIVES), "Their gan_type.")
    flags.DEFINE_integer("steps", parity.N_STEPS, "Generator steps compared.")
    flags.DEFINE_integer("batch", 64, "Batch size (their config.py batch_size = 64).")
    flags.DEFINE_integer("seed", parity.SEED, "Seeds the real batches and the z.")
    flags.DEFINE_string("mnist_dir", None, "The four MNIST IDX files (else TFDS).")
    flags.DEFINE_string("authors_repo", None, "Their checkout (default ../shared/authors_code).")
    flags.DEFINE_string(
        "out", None, "Write the results as JSON here (default runs/late_parity/<name>.json)."
    )
    flags.DEFINE_string("work_dir", None, "Scratch folder (default: a temporary one).")
    flags.mark_flag_as_required("checkpoint")


# ------------------------------------------------------------------ the state
def _spread(values):
    import numpy as np

    v = np.concatenate([np.ravel(x) for x in values]).astype(np.float64)
    q = np.quantile(v, [0.01, 0.5, 0.99])
    return {
        "mean": float(v.mean()),
        "min": float(v.min()),
        "p01": float(q[0]),
        "median": float(q[1]),
        "p99": float(q[2]),
        "max": float(v.max()),
    }


def describe_state(state, arch, neuron, objective, model_class, z):
    """What a state of their model looks like, against the start of a run:
    - the RMSProp (or Adam) accumulators of G and D, which TF1 starts at 1: their spread;
    - D's weights at and near the clip (tools/critic_weights.py's AT and NEAR), layer by layer;
    - G's output on the fixed z `z`: the end mass of its preactivated outputs
      (evaluation.metrics.end_mass), the share within SATURATED of 0 or 1, and the density of
      its binary samples (our G with their weights: variable_map, exact to float rounding)."""
    import numpy as np

    from binarygan_tf.authors import presets, variable_map
    from binarygan_tf.evaluation import metrics
    from binarygan_tf.model import networks, objectives
    from tools import critic_weights

    setup = presets.setup_for(neuron, objective, arch)
    slot = {"rmsprop": "RMSProp", "adam": "Adam_1"}[setup.optimizer]
    out = {"accumulator_slot": slot, "accumulator_start": 1.0 if slot == "RMSProp" else 0.0}
    for net in ("G", "D"):
        slots = [
            v
            for n, v in state.items()
            if n.startswith(f"Optimizer/{model_class}/{net}/") and n.endswith(f"/{slot}")
        ]
        out[f"{net}_accumulator"] = _spread(slots)
    clip = objectives.CLIP_VALUE
    layers = {}
    for theirs, (layer, weight) in variable_map.name_map("D", arch, setup.d_batch_norm).items():
        w = np.asarray(state[theirs])
        layers[f"{layer}.{weight}"] = {
            "at_clip": float(np.mean(np.abs(w) >= critic_weights.AT * clip)),
            "near_clip": float(np.mean(np.abs(w) >= critic_weights.NEAR * clip)),
            "mean_abs": float(np.abs(w).mean()),
            "mean": float(w.mean()),
            "size": int(w.size),
        }
    out["D_layers"] = layers
    sizes = sum(v["size"] for v in layers.values())
    out["D_at_clip"] = sum(v["at_clip"] * v["size"] for v in layers.values()) / sizes
    out["D_near_clip"] = sum(v["near_clip"] * v["size"] for v in layers.values()) / sizes
    generator = networks.build_generator(arch, neuron, follow="code")
    variable_map.load(generator, state, "G", arch)
    pre, samples = [], []
    for i in range(0, len(z), 256):
        o = generator(z[i : i + 256], training=False)
        pre.append(o["preactivated"].numpy())
        samples.append(o["samples"].numpy())
    pre, samples = np.concatenate(pre), np.concatenate(samples)
    out["G_end_mass"] = metrics.end_mass(pre)
    out["G_saturated"] = float(np.mean((pre < SATURATED) | (pre > 1 - SATURATED)))
    out["G_sample_density"] = float(samples.mean())
    out["G_z"] = len(z)
    return out


def state_lines(d):
    lines = []
    for net in ("G", "D"):
        a = d[f"{net}_accumulator"]
        lines.append(
            f"{net}'s {d['accumulator_slot']} accumulator (starts at {d['accumulator_start']:g}): "
            f"median {a['median']:.3g}, 1-99% {a['p01']:.3g} .. {a['p99']:.3g}, max {a['max']:.3g}"
        )
    lines.append(
        f"D's weights at the clip: {d['D_at_clip']:.3f} (near it: {d['D_near_clip']:.3f}); "
        + "; ".join(
            f"{name} {v['at_clip']:.2f} at / {v['near_clip']:.2f} near, mean {v['mean']:+.4f}"
            for name, v in d["D_layers"].items()
            if name.endswith("kernel")
        )
    )
    lines.append(
        f"G on {d['G_z']} fixed z: end mass {d['G_end_mass']:.3f}, within {SATURATED:g} of 0 "
        f"or 1 {d['G_saturated']:.3f}, sample density {d['G_sample_density']:.3f}"
    )
    return lines


# ------------------------------------------------------------------ the run
def _json_ready(run):
    """The run without its arrays (the start state), with the violations."""
    from binarygan_tf.authors import parity

    out = {k: v for k, v in run.items() if k not in ("start_state", "initial_slots")}
    out["violations"] = [list(v) for v in parity.violations(run)]
    out["worst_by_point"] = parity.worst_by_point(run)
    return out


def main():
    import numpy as np

    from binarygan_tf.authors import client, parity, presets, repository
    from binarygan_tf.authors.worker import marker_z
    from binarygan_tf.training import data

    f = flags.FLAGS
    client.check_packages()
    repo = repository.resolve(f.authors_repo or repository.DEFAULT_REPO)
    setup = presets.setup_for(f.neuron, f.objective, f.arch)
    checkpoint, recorded = parity.resolve_checkpoint(f.checkpoint, setup.model_class)
    global_step = parity.checkpoint_global_step(checkpoint, setup.model_class)
    step, critics = parity.generator_step_of(global_step)
    if recorded is not None and recorded != step:
        raise UserError(
            f"{checkpoint}: global step {global_step} is generator step {step} of one "
            f"uninterrupted run, but authors_progress.json says {recorded}; a resumed run's "
            f"checkpoint (their resume restarts the schedule) cannot be started from here."
        )
    print(
        f"{checkpoint}: generator step {step}, {critics} critic updates (global step "
        f"{global_step}" + ("" if recorded is None else ", as authors_progress.json says") + ")"
    )
    state = parity.checkpoint_state(checkpoint, setup.model_class)
    description = describe_state(
        state, f.arch, f.neuron, f.objective, setup.model_class, marker_z()
    )
    print("\n".join(state_lines(description)))
    images = data.load_training_images(f.mnist_dir)
    name = f"{os.path.basename(checkpoint)}_{f.arch}_{f.neuron}_{f.objective}"
    out = f.out or os.path.join(REPO_ROOT, "runs", "late_parity", name + ".json")
    with tempfile.TemporaryDirectory(dir=f.work_dir) as workdir:
        run = parity.run_case(
            f.arch,
            f.neuron,
            f.objective,
            workdir,
            repo,
            checkpoint=checkpoint,
            images=images,
            steps=f.steps,
            batch=f.batch,
            seed=f.seed,
        )
    # Their worker restored the checkpoint itself: its state before the first step must be
    # the file's, bit for bit.
    restored = run["start_state"]
    mismatched = sorted(n for n in state if not np.array_equal(state[n], restored.get(n)))
    print(parity.report(run))
    worst = parity.worst_by_point(run)
    for point, w in worst.items():
        print(
            f"worst at the {point} updates: weights {w['weights']:.3f}, slots {w['slots']:.3f} "
            f"of the bound; largest move of the updated net {w['moved']:.2e}"
        )
    found = parity.violations(run)
    for where, what in found:
        print(f"VIOLATION {where}: {what}")
    if mismatched:
        print(f"their restored state differs from the checkpoint file in {mismatched[:4]}")
    record = dict(
        _json_ready(run),
        checkpoint=os.path.abspath(checkpoint),
        global_step=global_step,
        settings=dict(
            arch=f.arch,
            neuron=f.neuron,
            objective=f.objective,
            steps=f.steps,
            batch=f.batch,
            seed=f.seed,
            onednn=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TF default"),
            cores=len(os.sched_getaffinity(0)),
        ),
        state=description,
        restored_mismatch=mismatched,
        written=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as fh:
        json.dump(record, fh, indent=2, default=float)
    print(
        f"{len(run['updates'])} updates, {len(found)} violations, "
        f"{run['seconds']:.0f} s; written to {out}"
    )
    return 1 if found or mismatched else 0


if __name__ == "__main__":
    from binarygan_tf.commands import cli

    sys.path.insert(0, REPO_ROOT)  # `tools` as a package, when run as python tools/NAME.py
    define_flags()
    cli.run(main, doc=__doc__)
