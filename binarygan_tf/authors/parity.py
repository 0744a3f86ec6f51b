"""Update-for-update parity with the authors' own TF1 code (salu133445/binarygan, unmodified).

The harness of tests/test_authors_parity.py and tools/parity_mutations.py.

Their graph runs in a worker process (binarygan_tf/authors/worker.py `parity`: their
`BinaryGAN`/`GAN` built from their presets, driven as their `train()` loop drives it: their
critic schedule, one `sess.run` per critic update and per generator update). Ours is
`train_lib.build_trainer(TrainConfig(...))` with the default `follow="code"`, driven through
its own `train_step`, compiled as `fit()` compiles it. Both see the same real batches, the
same z and the same random draws: every uniform of the SBN output layer and of WGAN-GP's
interpolation is generated here once (authors/draws.py), fed to their graph in place of its
`RandomUniform` outputs, and handed out to ours by a stand-in for `random_draws`. N = 30
generator steps: the 25 steps of their 100-critic warm-up, then 5 steps of 5 (2,525 critic
updates), at batch 4 (nothing in a step depends on the batch size but the shapes) on random
binary images at MNIST's density.

Why one update at a time. Two computations that differ only in float order (another CPU,
oneDNN on or off, another thread count, XLA or not) part within a few of the 100 critic
updates of a warm-up step: weight clipping, LeakyReLU kinks and binary thresholds are
discontinuous, and RMSProp/Adam turn a rounding difference in a near-zero gradient into a
step of ~lr. A bound on a whole step is then either loose or tuned to one machine. So the
worker dumps their whole state (weights, optimizer slots) at four points of every generator
step k: before it, after its first critic update, before its last critic update, and before
its generator update. From each dumped state ours makes the same single update and is
compared with their state right after it:

- the first critic update of step k (their state before step k),
- the last critic update of step k (their state after n_critic - 1 updates),
- the generator update of step k (their state after all critic updates).

That is 90 single updates per case, each from a state both sides share bit for bit, so only
one update's float order separates them. The schedule and the draws over the 30 steps are
checked apart, exactly: ours runs each whole step from their state before it, and its
counters must move as theirs (n_critic updates of D, one of G, and exactly that step's draws).

Tolerance: a measured noise floor, not a number tuned to one CPU. Each single update is
made twice by ours from the same state, once through TensorFlow's kernels (oneDNN or Eigen)
and once through XLA, two float orders of one algorithm. For every update, each side's
distance from theirs (max |ours - theirs| over the updated net's weights; over its optimizer
slots, relative to each slot's largest value) must be within NOISE_MULTIPLE x the larger of
  - that update's XLA-vs-kernels distance (the float noise of this state, measured here), and
  - two float32 floors below which two correct computations cannot be told apart:
    FLOAT_FLOOR, a few ulps of the variable's own magnitude (a weight that moves by less
    than its ulp does not move), and UPDATE_FLOOR, the rounding of the sum that made the
    update, relative to the variable's move in this update.
Weights are compared variable by variable, each slot relative to its largest value (squares
of gradients, whose scale varies over orders of magnitude). Besides, our optimizer's slots
start exactly where theirs do (TF1's RMSProp accumulator starts at 1, Keras' at 0).
The mutation table in docs/authors_code.md (`python tools/parity_mutations.py`) shows that
every defect it lists breaks this bound in at least one case.

Late training (`run_case(..., checkpoint=...)`, tools/late_parity.py): the same comparison
from one of their Saver checkpoints a few epochs in, where the accumulators have decayed and
the critic sits on its clip, on real batches (of 64, their size) with normal z. Their worker
restores the checkpoint with their own `Model.load` after `init_all`; both sides' critic
schedules count from the checkpoint's generator step (`generator_step_of` its global step,
which counts critic and generator updates), and our counters are set to the run's.
"""

import contextlib
import os
import time
from unittest import mock

import numpy as np

from binarygan_tf.authors import client, draws, presets

N_STEPS = 30  # > 25: the whole 100-critic warm-up, then 5 steps of 5 critic updates
BATCH = 4
SEED = 1234
POINTS = ("first", "last", "generator")  # the single updates compared in each step
# The measured noise is one sample of the float-order difference; ours-against-theirs is
# another sample of the same kind, so the bound must let it be several times larger. 10x
# does, with room (the worst update measured under four kernel/thread settings: 0.60 of its
# bound, docs/authors_code.md), and stays far below what a defect does to one update (the
# mildest caught in the mutation table is 61x its bound, GP's epsilon aside).
NOISE_MULTIPLE = 10.0
# float32 carries 24 significant bits; a stored value is exact to 2^-24 of its magnitude, and
# one update adds a rounding of the same size on each side: a floor of 4 ulps (2^-21) of the
# largest value of what is compared.
FLOAT_FLOOR = 2.0**-21
# The update itself is a float32 sum: a gradient element adds up to 4 x 28 x 28 = 3,136 terms
# here (a bias of the CNN's last layer), whose rounding grows like sqrt(N) ulps of the sum
# (sqrt(3136) = 56 < 2^7): a floor of 2^-24 * 2^7 of the variable's own move.
UPDATE_FLOOR = 2.0**-17

TINY = float(np.finfo(np.float32).tiny)
CASES = [
    ("mlp", "dbn", "wgan"),
    ("cnn", "dbn", "wgan"),
    ("mlp", "sbn", "wgan-gp"),
    ("mlp", "dbn", "gan"),
    # Exp. IV's configuration, the CNN under WGAN-GP (the penalty's second derivative
    # through convolutions and pooling) with the SBN's noise: added when their CNN SBN,
    # run unchanged, came out with a lower FD than ours (issue #28, docs/authors_code.md).
    ("cnn", "sbn", "wgan-gp"),
]


class _Replay:
    """Hands out `values[order[0]]`, `values[order[1]]`, ... one per call, inside the compiled
    step (variables, so XLA and tf.while_loop keep the order of the calls), reshaped to what
    the caller asked for (our SBN draws [B, 784] in G's forward and [B, 28, 28, 1] when a
    critic update redraws from the image-shaped preactivated output; the same values)."""

    def __init__(self, values):
        import tensorflow as tf

        self.size = len(values)
        self.values = tf.Variable(values, trainable=False)
        self.order = tf.Variable(np.arange(self.size, dtype=np.int32), trainable=False)
        self.index = tf.Variable(0, dtype=tf.int32, trainable=False)

    def use(self, rows):
        """The next calls read `rows`, in order."""
        order = np.zeros(self.size, np.int32)
        order[: len(rows)] = rows
        self.order.assign(order)
        self.index.assign(0)

    def next(self, shape, dtype):
        import tensorflow as tf

        i = self.index.assign_add(1) - 1
        return tf.reshape(tf.cast(tf.gather(self.values, self.order[i]), dtype), shape)


def _sbn_noise_in_our_order(inputs, counts):
    """Our step draws the noise of its one generator forward first (shared by the generator
    update) and then one per critic update; theirs draws one per critic update and then one
    for the generator update. Same values, reordered: row k + done_k is step k's generator
    noise, and row k + done_k + 1 + j its critic update j."""
    out, c = [], 0
    for k, n in enumerate(counts):
        out.append(inputs["noise_generator"][k])
        out.extend(inputs["noise_critic"][c : c + n])
        c += n
    return np.stack(out)


class _Ours:
    """Our trainer as train.py builds it, its step compiled as fit() compiles it (train_step as
    one tf.function, AutoGraph off), with every random draw replayed; besides the whole step,
    the same step with one critic update and with none (the single updates), each through
    TensorFlow's kernels and through XLA."""

    def __init__(
        self, arch, neuron, objective, inputs, counts, patches, batch=BATCH, config=None, start=None
    ):
        """`config`: the TrainConfig to build ours from (default: train.py's defaults for
        this arch, neuron and objective at `batch`). `start`: (generator steps, critic
        updates) their run had made before the first step of `inputs` (a checkpoint's)."""
        import keras
        import tensorflow as tf

        from binarygan_tf.model import networks, random_draws, trainer
        from binarygan_tf.training import train_lib

        self.arch, self.counts, self.inputs = arch, counts, inputs
        self.start_step, self.start_critics = start or (0, 0)
        self.setup = presets.setup_for(neuron, objective, arch)
        self.config = config or train_lib.TrainConfig(
            arch=arch, neuron=neuron, objective=objective, batch_size=batch, seed=0
        )
        keras.utils.set_random_seed(0)
        self.trainer = t = train_lib.build_trainer(self.config)
        self.initial_slots = self.slots()
        self.z = _Replay(inputs["z"])
        self.eps = _Replay(inputs["eps_critic"]) if "eps_critic" in inputs else None
        self.noise = _Replay(_sbn_noise_in_our_order(inputs, counts)) if neuron == "sbn" else None
        neuron_layer = networks.output_neuron(t.generator)

        def normal(shape, seed_generator, dtype="float32"):
            assert seed_generator is t.latent_seed
            return self.z.next(shape, dtype)

        def uniform(shape, seed_generator, dtype="float32"):
            if self.eps is not None and seed_generator is t.interpolation_seed:
                return self.eps.next(shape, dtype)
            if self.noise is not None and seed_generator is neuron_layer.seed_generator:
                return self.noise.next(shape, dtype)
            raise AssertionError("a random draw the parity test does not replay")

        patches.enter_context(mock.patch.object(random_draws, "normal", normal))
        patches.enter_context(mock.patch.object(random_draws, "uniform", uniform))

        def compiled(schedule, xla):
            # The schedule is read while tracing: a step traced under another schedule is the
            # same train_step with n_critic fixed (1: a single critic update; 0: only G's).
            def step(real):
                kept = t.schedule
                t.schedule = schedule or kept
                try:
                    return t.train_step(real)
                finally:
                    t.schedule = kept

            return tf.function(step, jit_compile=xla, autograph=False)

        self._whole = compiled(None, self.config.resolved_jit_compile)
        one, none = trainer.CriticSchedule(1, 1), trainer.CriticSchedule(0, 0)
        self._single = {
            (critics, xla): compiled(one if critics else none, xla)
            for critics in (True, False)
            for xla in (False, True)
        }

    def _nets(self):
        t, s = self.trainer, self.setup
        return (
            ("G", t.generator, t.g_optimizer, False),
            ("D", t.discriminator, t.d_optimizer, s.d_batch_norm),
        )

    def set_state(self, state, k, critics_done):
        """Their state `state`, taken in generator step k (of `inputs`) after `critics_done`
        critic updates (since `inputs` began): weights, slots, counters. The counters are the
        run's: `start` is added, so our critic schedule reads the generator step theirs does."""
        from binarygan_tf.authors import variable_map

        k, critics_done = self.start_step + k, self.start_critics + critics_done
        for net, model, optimizer, bn in self._nets():
            variable_map.load(model, state, net, self.arch, bn)
            variable_map.load_optimizer(
                optimizer,
                model,
                state,
                net,
                self.arch,
                bn,
                self.setup.model_class,
                self.setup.optimizer,
                k if net == "G" else critics_done,
            )
        self.trainer.generator_step.assign(k)

    def slots(self):
        from binarygan_tf.authors import variable_map

        out = {}
        for net, model, optimizer, bn in self._nets():
            out.update(
                variable_map.dump_optimizer(
                    optimizer,
                    model,
                    net,
                    self.arch,
                    bn,
                    self.setup.model_class,
                    self.setup.optimizer,
                )
            )
        return out

    def state(self):
        """Our weights and optimizer slots, under their names."""
        from binarygan_tf.authors import variable_map

        out = self.slots()
        for net, model, _, bn in self._nets():
            out.update(variable_map.dump(model, net, self.arch, bn))
        return out

    def _real(self, k):
        import tensorflow as tf

        return tf.constant(self.inputs["real"][k], tf.float32)

    def whole_step(self, state, k):
        """Generator step k from their state before it; our counters and draws must move as
        their loop's: one generator step, n_critic critic updates, exactly that step's draws."""
        done = sum(self.counts[:k])
        self.set_state(state, k, done)
        self.z.use(np.arange(k, self.z.size))
        if self.eps is not None:
            self.eps.use(np.arange(done, self.eps.size))
        if self.noise is not None:
            self.noise.use(np.arange(k + done, self.noise.size))
        self._whole(self._real(k))
        n = self.counts[k]
        k, done = self.start_step + k, self.start_critics + done
        return {
            "generator_step": int(self.trainer.generator_step.numpy()) - k,
            "critic_updates": int(self.trainer.d_optimizer.iterations.numpy()) - done,
            "generator_updates": int(self.trainer.g_optimizer.iterations.numpy()) - k,
            "z": int(self.z.index.numpy()),
            "eps": None if self.eps is None else int(self.eps.index.numpy()),
            "noise": None if self.noise is None else int(self.noise.index.numpy()),
            "expected": {
                "generator_step": 1,
                "critic_updates": n,
                "generator_updates": 1,
                "z": 1,
                "eps": None if self.eps is None else n,
                "noise": None if self.noise is None else n + 1,
            },
        }

    def free_step(self, real, z_row):
        """One whole generator step from our current state (nothing set from theirs), on the
        real batch `real` and row `z_row` of the replayed z; the loss of its last critic
        update, computed before that update is applied (what our training log keeps)."""
        import tensorflow as tf

        self.trainer.reset_metrics()
        self.z.use([z_row])
        return float(self._whole(tf.constant(real, tf.float32))["d_loss"])

    def single_update(self, point, xla, state, k):
        """One update of step k from their `state` at `point`: the first or the last critic
        update, or the generator update; our whole state after it."""
        done, n = sum(self.counts[:k]), self.counts[k]
        j = {"first": 0, "last": n - 1, "generator": n}[point]
        self.set_state(state, k, done + j)
        self.z.use([k])
        if self.eps is not None:
            self.eps.use([done + j])
        if self.noise is not None:  # G's forward, then (critic updates only) update j
            self.noise.use([k + done, k + done + 1 + j])
        self._single[(point != "generator", xla)](self._real(k))
        return self.state()


def _load(path):
    with np.load(path) as f:
        return dict(f)


def _names(state, point):
    """What an update at `point` changes, named as in `state` (ours: every weight and slot
    that has a counterpart in theirs): D's weights and slots, or G's."""
    net = "G" if point == "generator" else "D"
    weights = [n for n in state if n.startswith(f"{net}/")]
    slots = [n for n in state if n.startswith("Optimizer/") and f"/{net}/" in n]
    return weights, slots


def _distance(a, b, name, relative):
    """max |a - b| of one variable; for a slot (`relative`: squares of gradients, whose scale
    varies over orders of magnitude) relative to the slot's largest value in b."""
    d = float(np.max(np.abs(a[name].astype(np.float64) - b[name])))
    return d / max(float(np.max(np.abs(b[name]))), 1e-30) if relative else d


def _compare(point, before, theirs, ours, xla):
    """One single update, variable by variable: how far ours (kernels) and ours (XLA) land
    from theirs, against the bound from this update's noise (kernels against XLA) and the
    float32 floors (the variable's magnitude, its move in this update). Keeps the worst ratio to the bound of
    each kind (weights, slots) and how far their update moved the net's weights."""
    weights, slots = _names(ours, point)
    moved = {n: _distance(theirs, before, n, False) for n in weights}
    out = {"moved": max(moved.values())}
    for kind, names, relative in (("weights", weights, False), ("slots", slots, True)):
        worst = {"ratio": -1.0}
        for n in names:
            scale = 1.0 if relative else float(np.max(np.abs(theirs[n])))
            noise = _distance(ours, xla, n, relative)
            # (a variable that is exactly zero in theirs must be exactly zero in ours)
            floors = (FLOAT_FLOOR * scale, UPDATE_FLOOR * moved.get(n, 0.0), TINY)
            bound = NOISE_MULTIPLE * max(noise, *floors)
            kernels, with_xla = (_distance(o, theirs, n, relative) for o in (ours, xla))
            ratio = max(kernels, with_xla) / bound
            if ratio > worst["ratio"]:
                worst = dict(
                    ratio=ratio, name=n, kernels=kernels, xla=with_xla, noise=noise, bound=bound
                )
        out[kind] = worst
    return out


def generator_step_of(global_step):
    """(generator steps, critic updates) of one uninterrupted run of their loop whose
    `global_step` (which their critic and generator updates both advance) has this value:
    the K with sum over k < K of (critic_count(k) + 1) = global_step. Their resume restarts
    the loop's counter, so this holds for a checkpoint of a run from its start."""
    from binarygan_tf.errors import UserError

    k = total = 0
    while total < global_step:
        total += presets.critic_count(k) + 1
        k += 1
    if total != global_step:
        raise UserError(
            f"global step {global_step} ends no generator step of their critic schedule; "
            f"not a checkpoint of one uninterrupted run of their loop."
        )
    return k, global_step - k


def run_case(
    arch,
    neuron,
    objective,
    workdir,
    authors_repo,
    stop_early=False,
    checkpoint=None,
    images=None,
    steps=N_STEPS,
    batch=BATCH,
    seed=SEED,
):
    """Their run in a worker, ours alongside; returns the per-update comparisons, the per-step
    counters, their result and the initial slots on both sides. With `stop_early` it stops
    at the end of the first step with a violation (tools/parity_mutations.py).

    With `checkpoint` (one of their Saver checkpoints, as a path prefix, and `images`: the
    real training images), both start from it (late-training parity, tools/late_parity.py):
    their worker restores it into their graph and the case runs `steps` generator steps of
    real batches of `batch` and normal z from there, both sides' critic schedules counting
    from the checkpoint's generator step (generator_step_of its global step)."""
    setup = presets.setup_for(neuron, objective, arch)
    offset = (0, 0)  # (generator steps, critic updates) before the case's first step
    if checkpoint is None:
        inputs, counts = draws.parity_inputs(arch, neuron, objective, steps, batch, seed)
    else:
        offset = generator_step_of(checkpoint_global_step(checkpoint, setup.model_class))
        inputs, counts = draws.late_inputs(
            arch, neuron, objective, images, offset[0], steps, batch, seed
        )
    np.savez(os.path.join(workdir, "inputs.npz"), **inputs)
    prefix = os.path.join(workdir, "state")
    request = {
        "command": "parity",
        "authors_repo": authors_repo,
        "setup": vars(setup),
        "inputs_path": os.path.join(workdir, "inputs.npz"),
        "state_prefix": prefix,
        "seed": seed,
        "update_points": True,
    }
    if checkpoint is not None:
        request.update(checkpoint=os.path.abspath(checkpoint), start_step=offset[0])
    log_path = os.path.join(workdir, "parity.log")
    started = time.time()
    run = {
        "updates": [],
        "steps": [],
        "result": None,
        "counts": counts,
        "stopped_at": None,
        "start": {"generator_step": offset[0], "critic_updates": offset[1]},
    }
    with open(log_path, "w") as log, contextlib.ExitStack() as patches:
        proc, result_path = client.start(request, workdir, stdout=log, stderr=log)
        try:
            ours = _Ours(
                arch, neuron, objective, inputs, counts, patches, batch=batch, start=offset
            )  # meanwhile

            def wait(name):
                client.wait_for_file(proc, f"{prefix}{name}.npz", timeout=600)
                return _load(f"{prefix}{name}.npz")

            start = wait(0)
            # Our optimizer's slots must start where TF1's do (from initialization only: a
            # checkpoint's are whatever training made them, and ours are set from theirs).
            run["initial_slots"] = (
                (ours.initial_slots, {n: start[n] for n in ours.initial_slots})
                if checkpoint is None
                else None
            )
            run["start_state"] = start if checkpoint is not None else None
            for k in range(steps):
                at = {"first": start, "last": wait(f"{k}_last"), "generator": wait(f"{k}_critics")}
                after = {"first": wait(f"{k}_first"), "last": at["generator"], "generator": None}
                after["generator"] = nxt = wait(k + 1)
                run["steps"].append(ours.whole_step(start, k))
                for point in POINTS:
                    kernels = ours.single_update(point, False, at[point], k)
                    xla = ours.single_update(point, True, at[point], k)
                    comparison = _compare(point, at[point], after[point], kernels, xla)
                    run["updates"].append(dict(comparison, step=k, point=point))
                for name in (k, f"{k}_first", f"{k}_last", f"{k}_critics"):
                    os.remove(f"{prefix}{name}.npz")
                start = nxt
                if stop_early and violations(run):
                    run["stopped_at"] = k
                    break
            else:
                run["result"] = client.finish(proc, result_path, timeout=600, log_path=log_path)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    run["seconds"] = time.time() - started
    return run


def resolve_checkpoint(path, model_class="BinaryGAN"):
    """(checkpoint prefix, generator step or None) for `path`: a checkpoint's prefix
    (`.../BinaryGAN.model-29367`), a folder of their checkpoints, or a run directory of
    compare_authors.py (its `checkpoints/`); a folder gives its newest checkpoint (by global
    step). The generator step is the one compare_authors.py recorded for it in
    `authors_progress.json` beside the checkpoints, when there is one."""
    import glob
    import json

    from binarygan_tf.errors import UserError

    prefix = path
    if os.path.isdir(path):
        folder = os.path.join(path, "checkpoints")
        folder = folder if os.path.isdir(folder) else path
        found = glob.glob(os.path.join(folder, f"{model_class}.model-*.index"))
        if not found:
            raise UserError(f"{path} holds no checkpoint of theirs ({model_class}.model-*).")
        prefix = max((f[: -len(".index")] for f in found), key=lambda p: int(p.rsplit("-", 1)[1]))
    elif not os.path.isfile(prefix + ".index"):
        raise UserError(f"{path} is not a checkpoint of theirs (no {path}.index).")
    recorded = None
    for folder in (os.path.dirname(prefix), os.path.dirname(os.path.dirname(prefix))):
        progress = os.path.join(folder, "authors_progress.json")
        if os.path.isfile(progress):
            with open(progress) as f:
                recorded = json.load(f).get("checkpoints", {}).get(os.path.basename(prefix))
            break
    return prefix, recorded


def checkpoint_global_step(checkpoint, model_class="BinaryGAN"):
    """Their checkpoint's `global_step` (critic and generator updates), read from the file."""
    import tensorflow as tf

    return int(tf.train.load_checkpoint(checkpoint).get_tensor(f"{model_class}/global_step"))


def checkpoint_state(checkpoint, model_class="BinaryGAN"):
    """{name: array} of their checkpoint, named relative to their model's scope as
    runtime.read_state names the state (`G/main/...`, `Optimizer/<scope>/...`)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(checkpoint)
    root = model_class + "/"
    return {
        name[len(root) :]: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if name.startswith(root)
    }


def worst_by_point(run):
    """{point: {kind: worst share of the bound over the run's updates at that point}}."""
    out = {}
    for u in run["updates"]:
        at = out.setdefault(u["point"], {"weights": 0.0, "slots": 0.0, "moved": 0.0})
        for kind in ("weights", "slots"):
            at[kind] = max(at[kind], u[kind]["ratio"])
        at["moved"] = max(at["moved"], u["moved"])
    return out


def report(run):
    """One line per single update: the worst variable of each kind against its bound."""
    lines = []
    for u in run["updates"]:
        parts = [f"step {u['step']:2d} {u['point']:9s} moved {u['moved']:.2e}"]
        for kind in ("weights", "slots"):
            w = u[kind]
            parts.append(
                f"{kind} {w['ratio']:.3f} of bound {w['bound']:.2e} (kernels {w['kernels']:.2e}"
                f", xla {w['xla']:.2e}, noise {w['noise']:.2e}; {w['name'].split('/main/')[-1]})"
            )
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def violations(run):
    """Every way ours differs from theirs beyond the bounds: [(where, what)]."""
    found = []
    ours_slots, their_slots = run.get("initial_slots") or ({}, {})
    for n, v in ours_slots.items():
        if not np.array_equal(v, their_slots[n]):
            found.append(("initial state", f"slot {n} starts at {v.flat[0]:g}"))
    for k, step in enumerate(run["steps"]):
        for key, expected in step["expected"].items():
            if step[key] != expected:
                found.append((f"step {k}", f"{key} moved {step[key]}, theirs {expected}"))
    for u in run["updates"]:
        for kind in ("weights", "slots"):
            if u[kind]["ratio"] > 1.0:
                w = u[kind]
                found.append(
                    (
                        f"step {u['step']} {u['point']}",
                        f"{kind}: {w['name']} off by {max(w['kernels'], w['xla']):.3g}, "
                        f"{w['ratio']:.3g} x its bound {w['bound']:.3g}",
                    )
                )
    return found
