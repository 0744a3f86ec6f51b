"""Does the authors' code train differently on TF1 reference variables than on resource ones?

Why: under WGAN their runs and ours part ways over 20 epochs although every step agrees from
the same state (docs/authors_code.md). Their graph runs on reference variables
(`disable_v2_behavior()`), which an optimizer updates in place with no order against other
ops' reads: each `ApplyRMSProp` waits only for its own gradient, so it could overwrite layer
k+1's kernel while backprop still reads it to reach layer k. Resource variables order every
read against every write, as our Keras step does. If the race happened, their two runs here
would part; the step-for-step parity test could not see it, because its per-step tolerance
is wider than one such misordered read.

Runs their parity command twice at once, from the same initial state (same seed) and the
same inputs and draws (binarygan_tf/authors/draws.py), once per variable kind, and prints per
generator step the largest difference between the two runs' weights and optimizer slots.

    python tools/variable_kinds.py --arch=mlp --neuron=dbn --objective=wgan --steps=30 --batch=64
"""

import contextlib
import os
import tempfile

from absl import flags

from binarygan_tf.authors import presets  # no TensorFlow at import
from binarygan_tf.commands import cli

KINDS = ("reference", "resource")


def define_flags():
    """The tool's flags, defined when it runs as a program, not on import: tests import
    several tools into one process, and absl refuses a flag name defined twice."""
    flags.DEFINE_enum("arch", "mlp", list(presets.ARCHS), "Their mlp_* or cnn_* presets.")
    flags.DEFINE_enum("neuron", "dbn", list(presets.NEURONS), "As compare_authors.py --neuron.")
    flags.DEFINE_enum("objective", "wgan", list(presets.OBJECTIVES), "Their gan_type.")
    flags.DEFINE_integer("steps", 30, "Generator steps (30: the 100-critic warm-up, then 5 of 5).")
    flags.DEFINE_integer("batch", 64, "Batch size (their config.py batch_size = 64).")
    flags.DEFINE_integer("seed", 1234, "Seeds their initial weights and the drawn inputs.")
    flags.DEFINE_string("authors_repo", None, "Their checkout (default: ../shared/authors_code).")
    flags.DEFINE_string("work_dir", None, "Scratch folder (default: a temporary one).")


def _load(path):
    import numpy as np

    with np.load(path) as f:
        return dict(f)


def _largest_difference(a, b, prefix):
    """Largest |a - b| over the arrays whose names start with `prefix` (weights: G/, D/;
    optimizer slots: Optimizer/)."""
    import numpy as np

    names = [n for n in a if n.startswith(prefix)]
    return max(float(np.max(np.abs(a[n] - b[n]))) for n in names) if names else 0.0


def compare(arch, neuron, objective, steps, batch, seed, repo, work_dir, log=print):
    """[(state k, weights difference, slots difference)] between the two variable kinds, and
    each run's answer ({kind: result})."""
    import numpy as np

    from binarygan_tf.authors import client, draws, repository

    repo = repository.resolve(repo)
    setup = presets.setup_for(neuron, objective, arch)
    inputs, _ = draws.parity_inputs(arch, neuron, objective, steps, batch, seed)
    inputs_path = os.path.join(work_dir, "inputs.npz")
    np.savez(inputs_path, **inputs)
    workers = {}  # kind: (process, result path, state prefix, log path)
    with contextlib.ExitStack() as stack:
        stack.callback(_kill, workers)
        for kind in KINDS:
            kind_dir = os.path.join(work_dir, kind)
            os.makedirs(kind_dir, exist_ok=True)
            request = {
                "command": "parity",
                "authors_repo": repo,
                "setup": vars(setup),
                "inputs_path": inputs_path,
                "state_prefix": os.path.join(kind_dir, "state"),
                "seed": seed,
                "resource_variables": kind == "resource",
            }
            log_path = os.path.join(kind_dir, "worker.log")
            log_file = stack.enter_context(open(log_path, "w"))
            proc, result_path = client.start(request, kind_dir, stdout=log_file, stderr=log_file)
            workers[kind] = (proc, result_path, request["state_prefix"], log_path)
        rows = []
        for k in range(steps + 1):
            a, b = (_next_state(client, *workers[kind][::2], k) for kind in KINDS)
            rows.append(
                (
                    k,
                    _largest_difference(a, b, ("G/", "D/")),
                    _largest_difference(a, b, "Optimizer/"),
                )
            )
            log(
                f"{'initial state' if k == 0 else f'after step {k}'}: max |reference - "
                f"resource| weights {rows[-1][1]:.3g}, optimizer slots {rows[-1][2]:.3g}"
            )
        results = {
            kind: client.finish(proc, result_path, timeout=600, log_path=log_path)
            for kind, (proc, result_path, _, log_path) in workers.items()
        }
    return rows, results


def _next_state(client, proc, prefix, k):
    """The worker's state after generator step k (k = 0: before the first), read and removed
    (an MLP state is tens of MB, one per step)."""
    path = f"{prefix}{k}.npz"
    client.wait_for_file(proc, path, timeout=1800)
    state = _load(path)
    os.remove(path)
    return state


def _kill(workers):
    for proc, *_ in workers.values():
        if proc.poll() is None:
            proc.kill()


def main():
    f = flags.FLAGS
    with tempfile.TemporaryDirectory() as scratch:
        work_dir = f.work_dir or scratch
        os.makedirs(work_dir, exist_ok=True)
        print(
            f"their {f.arch} {f.neuron} {f.objective}, {f.steps} generator steps at batch "
            f"{f.batch}, seed {f.seed}: reference variables against resource variables"
        )
        rows, results = compare(
            f.arch, f.neuron, f.objective, f.steps, f.batch, f.seed, f.authors_repo, work_dir
        )
    kinds = {kind: results[kind]["variable_types"] for kind in KINDS}
    worst = max(rows, key=lambda r: max(r[1], r[2]))
    print(f"variables built: {kinds}")
    print(
        f"largest difference over {f.steps} steps ({sum(results['reference']['n_critic'])} "
        f"critic updates): weights {max(r[1] for r in rows):.3g}, optimizer slots "
        f"{max(r[2] for r in rows):.3g} (at state {worst[0]})"
    )


if __name__ == "__main__":
    define_flags()
    cli.run(main, doc=__doc__)
