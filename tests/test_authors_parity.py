"""Update-for-update parity with the authors' own TF1 code: the harness and why it compares
one update at a time are in binarygan_tf/authors/parity.py; the defects it catches, and which
case catches each, in docs/authors_code.md (`python tools/parity_mutations.py`)."""

import numpy as np
import pytest

from binarygan_tf.authors import parity
from tests import helpers


@pytest.mark.slow
@pytest.mark.parametrize("arch,neuron,objective", parity.CASES)
def test_every_update_agrees_with_the_authors_code(arch, neuron, objective, tmp_path):
    repo = helpers.authors_repo_or_skip()
    run = parity.run_case(arch, neuron, objective, str(tmp_path), repo)
    result = run["result"]
    summary = parity.report(run) + f"\n{arch} {neuron} {objective}: {run['seconds']:.0f} s"
    print(summary)
    # Their loop's schedule, and the draws their graph consumed.
    assert result["n_critic"] == run["counts"] and result["critic_updates"] == 2525
    expected_random = {"sbn_noise"} if neuron == "sbn" else set()
    if objective == "wgan-gp":
        expected_random.add("interpolation")
    assert set(result["random_inputs"]) == expected_random
    assert parity.violations(run) == [], summary


def _update(weights, slots, moved=1e-4):
    """A single update's comparison as parity._compare reports it (worst variable each)."""

    def worst(ratio):
        return dict(
            ratio=ratio,
            name="D/main/Layer_1/dense/kernel",
            kernels=ratio * 1e-8,
            xla=0.0,
            noise=1e-9,
            bound=1e-8,
        )

    return {
        "moved": moved,
        "weights": worst(weights),
        "slots": worst(slots),
        "step": 3,
        "point": "last",
    }


def _run(updates, steps=None, initial=None):
    ones = {"Optimizer/BinaryGAN/D/main/Layer_1/dense/kernel/RMSProp": np.ones((2, 2), np.float32)}
    expected = {"generator_step": 1, "critic_updates": 5, "z": 1}
    return {
        "updates": updates,
        "steps": steps or [dict(expected, expected=expected)],
        "initial_slots": (initial or ones, ones),
    }


def test_violations_names_each_kind_of_difference():
    assert parity.violations(_run([_update(0.9, 0.99)])) == []
    found = parity.violations(_run([_update(1.5, 0.5), _update(0.5, 3.0)]))
    assert [where for where, _ in found] == ["step 3 last", "step 3 last"]
    assert "weights" in found[0][1] and "1.5 x its bound" in found[0][1]
    assert "slots" in found[1][1]
    # A schedule off by one critic update, or a slot that starts at 0 instead of TF1's 1.
    expected = {"generator_step": 1, "critic_updates": 5, "z": 1}
    short = dict(expected, critic_updates=4, expected=expected)
    assert parity.violations(_run([], steps=[short])) == [
        ("step 0", "critic_updates moved 4, theirs 5")
    ]
    zeros = {"Optimizer/BinaryGAN/D/main/Layer_1/dense/kernel/RMSProp": np.zeros((2, 2))}
    ((where, what),) = parity.violations(_run([], initial=zeros))
    assert where == "initial state" and "starts at 0" in what


def test_bound_takes_the_largest_floor():
    """The noise measured in the update, the variable's ulps, or the rounding of its move."""
    before = {
        "D/w": np.full(8, 0.01, np.float32),
        "Optimizer/x/D/w/RMSProp": np.ones(8, np.float32),
    }
    theirs = {k: v.copy() for k, v in before.items()}
    theirs["D/w"] += np.float32(1e-4)
    ours = {k: v.copy() for k, v in theirs.items()}
    xla = {k: v.copy() for k, v in theirs.items()}
    # Noise-free: the bound is the larger float floor, here UPDATE_FLOOR of the 1e-4 move.
    bound = parity.NOISE_MULTIPLE * max(parity.FLOAT_FLOOR * 0.0101, parity.UPDATE_FLOOR * 1e-4)
    out = parity._compare("last", before, theirs, ours, xla)
    assert out["weights"]["bound"] == pytest.approx(bound, rel=1e-3)
    assert out["weights"]["ratio"] == 0.0
    # A defect moves both of our paths alike: no noise to hide behind.
    for side in (ours, xla):
        side["D/w"][3] += np.float32(2 * bound)
    assert parity._compare("last", before, theirs, ours, xla)["weights"]["ratio"] > 1.5
    # Float noise, measured as XLA against the kernels, widens the bound.
    xla["D/w"][3] += np.float32(bound)
    assert parity._compare("last", before, theirs, ours, xla)["weights"]["ratio"] < 0.5
