"""Is the parity test sharp? Inject known defects into our side and see which case catches each.

Each mutation below is a small, plausible bug in our trainer (a wrong optimizer, clip, epsilon,
slope, estimator or schedule), applied as a patch in this process before our trainer is built.
For every mutation, the parity cases of tests/test_authors_parity.py whose code path it
touches run against the authors' unmodified code (binarygan_tf/authors/parity.py), each
stopping at the first step with a violation. A mutation is caught when at least one case reports a violation; the
table names the cases that catch it and the first violation seen. Without a mutation
(`--mutations=none`) every case must run clean.

    python tools/parity_mutations.py                      # all mutations, all cases (~30 min)
    python tools/parity_mutations.py --mutations=clip_0011,adam_eps_1e7 --cases=mlp:dbn:wgan

Prints a Markdown table (docs/authors_code.md quotes it) and writes it with the details to
`--out` (JSON).
"""

import contextlib
import dataclasses
import json
import tempfile
import time
from unittest import mock

from absl import flags

from binarygan_tf.authors import parity, repository
from binarygan_tf.commands import cli
from binarygan_tf.errors import UserError


def define_flags():
    """The tool's flags, defined when it runs as a program, not on import: tests import
    several tools into one process, and absl refuses a flag name defined twice."""
    flags.DEFINE_list("mutations", ["all"], "Mutations to inject (names below), 'all' or 'none'.")
    flags.DEFINE_list("cases", ["all"], "Parity cases as arch:neuron:objective, or 'all'.")
    flags.DEFINE_string("authors_repo", None, "Their checkout (default: ../shared/authors_code).")
    flags.DEFINE_string("out", None, "Write the results as JSON here.")
    flags.DEFINE_bool(
        "full",
        False,
        "Run every case to its end and count all violations (default: stop at the first).",
    )


@contextlib.contextmanager
def _keras_rmsprop():
    """Keras' RMSprop, whose accumulator starts at 0, in place of TF1's (which starts at 1)."""
    import keras

    from binarygan_tf.model import objectives

    with mock.patch.object(objectives.TF1RMSprop, "build", keras.optimizers.RMSprop.build):
        yield


@contextlib.contextmanager
def _unclipped_biases():
    from binarygan_tf.model import networks

    original = networks._Builder._core_kwargs

    def core_kwargs(self):
        return dict(original(self), bias_constraint=None)

    with mock.patch.object(networks._Builder, "_core_kwargs", core_kwargs):
        yield


@contextlib.contextmanager
def _clip(value):
    from binarygan_tf.model import objectives

    wgan = dataclasses.replace(objectives.OBJECTIVES["wgan"], weight_clip=value)
    with mock.patch.dict(objectives.OBJECTIVES, {"wgan": wgan}):
        yield


@contextlib.contextmanager
def _constant(module, name, value):
    """One of our named constants (read when a network or optimizer is built) set to `value`."""
    import importlib

    with mock.patch.object(importlib.import_module(f"binarygan_tf.{module}"), name, value):
        yield


@contextlib.contextmanager
def _plain_straight_through():
    """The sigmoid's derivative dropped: d out / d logits = 1 instead of p (1 - p)."""
    import tensorflow as tf

    from binarygan_tf.model import neurons

    original = neurons.OutputNeuron.preactivate

    def preactivate(self, logits):
        p = original(self, logits)
        logits = tf.cast(logits, tf.float32)
        return logits + tf.stop_gradient(p - logits)

    with mock.patch.object(neurons.OutputNeuron, "preactivate", preactivate):
        yield


@contextlib.contextmanager
def _critic_steps(value):
    from binarygan_tf.model import trainer

    original = trainer.CriticSchedule.count

    def count(self, generator_step):
        return original(dataclasses.replace(self, steps=value), generator_step)

    with mock.patch.object(trainer.CriticSchedule, "count", count):
        yield


@contextlib.contextmanager
def _shared_sbn_noise():
    """Every critic update of a step reuses the generator forward's SBN sample."""
    from binarygan_tf.model import neurons

    def redraw(self, samples, preactivated):
        return samples

    with mock.patch.object(neurons.StochasticBinaryNeuron, "redraw", redraw):
        yield


@contextlib.contextmanager
def _training_mode_batch_norm():
    import keras

    from binarygan_tf.model import networks

    def call(self, inputs, training=None, mask=None):
        return keras.layers.BatchNormalization.call(self, inputs, training=training, mask=mask)

    with mock.patch.object(networks.FrozenStatisticsBatchNorm, "call", call):
        yield


WGAN = ("mlp:dbn:wgan", "cnn:dbn:wgan")  # RMSProp and weight clipping
ADAM = ("mlp:sbn:wgan-gp", "mlp:dbn:gan")
EVERY = WGAN + ADAM
# name: (what the table says, the patch, the cases whose code path it touches). A case that
# never runs the mutated code cannot catch it, so it is not run.
MUTATIONS = {
    "keras_rmsprop": (
        "Keras' RMSprop (accumulator from 0) in place of TF1's",
        _keras_rmsprop,
        WGAN,
    ),
    "unclipped_biases": ("no clipping of the biases", _unclipped_biases, WGAN),
    "clip_0011": ("a clip of 0.011", lambda: _clip(0.011), WGAN),
    "adam_eps_1e7": (
        "Adam epsilon 1e-7",
        lambda: _constant("model.objectives", "OPTIMIZER_EPSILON", 1e-7),
        ADAM,
    ),
    "gp_norm_no_eps": (
        "the gradient-penalty norm without its 1e-8",
        lambda: _constant("model.objectives", "GRADIENT_NORM_EPSILON", 0.0),
        ("mlp:sbn:wgan-gp",),
    ),
    "leaky_03": (
        "LeakyReLU 0.3",
        lambda: _constant("model.networks", "LEAKY_RELU_SLOPE", 0.3),
        EVERY,
    ),
    "plain_ste": (
        "a straight-through gradient without the sigmoid's derivative",
        _plain_straight_through,
        EVERY,
    ),
    "critics_4": ("4 critic updates in place of 5", lambda: _critic_steps(4), EVERY),
    "shared_sbn_noise": (
        "one SBN noise draw shared by all critic updates of a step",
        _shared_sbn_noise,
        ("mlp:sbn:wgan-gp",),
    ),
    "bn_training": ("batch norm in training mode", _training_mode_batch_norm, EVERY),
}


def run(mutation, case, repo, log=print, full=False):
    """One case under one mutation (None: unmutated): (caught, first violation, seconds, step)."""
    arch, neuron, objective = case
    patch = MUTATIONS[mutation][1]() if mutation else contextlib.nullcontext()
    with tempfile.TemporaryDirectory() as work, patch:
        result = parity.run_case(arch, neuron, objective, work, repo, stop_early=not full)
    found = parity.violations(result)
    first = f"{found[0][0]}: {found[0][1]}" if found else ""
    log(
        f"{mutation or 'none'} on {':'.join(case)}: "
        f"{'CAUGHT ' + first if found else 'not caught'}"
        f"{f'; {len(found)} violations in all' if full else ''} ({result['seconds']:.0f} s)"
    )
    return {
        "mutation": mutation or "none",
        "case": ":".join(case),
        "caught": bool(found),
        "first_violation": first,
        "violations": len(found),
        "stopped_at_step": result["stopped_at"],
        "seconds": round(result["seconds"], 1),
    }


def table(rows):
    lines = [
        "| defect injected into ours | caught by | first violation |",
        "| --- | --- | --- |",
    ]
    by_mutation = {}
    for r in rows:
        by_mutation.setdefault(r["mutation"], []).append(r)
    for name, results in by_mutation.items():
        caught = [r for r in results if r["caught"]]
        label = MUTATIONS[name][0] if name in MUTATIONS else "none (our code as it is)"
        cases = ", ".join(f"`{r['case']}`" for r in caught) or "**not caught**"
        if name == "none":
            cases = "nothing (clean)" if not caught else cases
        first = caught[0]["first_violation"] if caught else ""
        lines.append(f"| {label} | {cases} | {first} |")
    return "\n".join(lines)


def main():
    f = flags.FLAGS
    repo = repository.resolve(f.authors_repo or repository.DEFAULT_REPO)
    names = (
        list(MUTATIONS)
        if f.mutations == ["all"]
        else []
        if f.mutations == ["none"]
        else list(f.mutations)
    )
    unknown = [n for n in names if n not in MUTATIONS]
    if unknown:
        raise UserError(f"unknown mutation {unknown[0]!r}; one of {', '.join(MUTATIONS)}")
    cases = [":".join(c) for c in parity.CASES] if f.cases == ["all"] else list(f.cases)
    started, rows = time.time(), []
    for name in names or [None]:
        touched = MUTATIONS[name][2] if name else EVERY
        for case in (c for c in cases if c in touched):
            rows.append(run(name, tuple(case.split(":")), repo, full=f.full))
    text = table(rows)
    print(text)
    print(f"({time.time() - started:.0f} s)")
    if f.out:
        with open(f.out, "w") as out:
            json.dump({"rows": rows, "table": text}, out, indent=2)


if __name__ == "__main__":
    define_flags()
    cli.run(main, doc=__doc__)
