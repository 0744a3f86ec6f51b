"""The diagnostic scripts in tools/ on a tiny run."""

import re

import pytest

from binarygan_tf.training import train_lib
from tests import helpers
from tests.helpers import tiny_config
from tools import critic_weights


@pytest.mark.slow
def test_critic_weights_reads_a_wgan_run_and_sees_every_weight_inside_the_clip(tmp_path):
    run = train_lib.run_training(tiny_config(tmp_path, objective="wgan"), log=lambda *_: None)
    line = critic_weights.describe(run.run_dir, clip=0.01)
    assert line.startswith(f"{run.run_dir} (ours): ")
    cells = re.findall(r"(\w+) ([\d.]+) at / ([\d.]+) near the clip, mean \|w\| ([\d.]+)", line)
    assert [name for name, *_ in cells] == ["dense_1", "dense_2", "logits"]  # D's kernels
    for _, at, near, mean in cells:
        assert 0 <= float(at) <= float(near) <= 1
        assert 0 < float(mean) <= 0.01  # clipped weights, read from the checkpoint
    # The initial kernels (truncated normal, stddev 0.02: 60% beyond 0.01) were clipped, so
    # the first layer has weights at the clip: the shares are read, not zeros.
    assert float(cells[0][1]) > 0


def test_critic_weights_names_the_values_a_collapsed_layer_holds(tmp_path, monkeypatch):
    import numpy as np

    (tmp_path / "config.json").write_text("{}")  # one of ours
    spread = np.linspace(-0.01, 0.01, 100).reshape(10, 10)
    collapsed = np.array([[-0.01] * 3 + [-0.0014] * 5]).T  # 8 weights on two values
    monkeypatch.setattr(
        critic_weights, "_kernels_ours", lambda run_dir: [("a", spread), ("b", collapsed)]
    )
    line = critic_weights.describe(str(tmp_path), clip=0.01)
    a, b = line.split(": ", 1)[1].split("; ")
    assert a == "a 0.02 at / 0.10 near the clip, mean |w| 0.0051"  # 2 and 10 of 100
    assert b == "b 0.38 at / 0.38 near the clip, mean |w| 0.0046 (3 at -0.0100, 5 at -0.0014)"


@pytest.mark.slow
def test_variable_kinds_runs_their_graph_on_each_kind_and_compares_every_state(tmp_path):
    repo = helpers.authors_repo_or_skip()
    from tools import variable_kinds

    lines = []
    rows, results = variable_kinds.compare(
        "mlp",
        "dbn",
        "wgan",
        steps=2,
        batch=2,
        seed=7,
        repo=repo,
        work_dir=str(tmp_path),
        log=lines.append,
    )
    # the switch reaches their graph: one run on each kind of variable
    assert results["reference"]["variable_types"] == ["RefVariable"]
    assert results["resource"]["variable_types"] == ["ResourceVariable"]
    # the same schedule on both sides (the 100-critic warm-up), every state compared
    assert results["reference"]["n_critic"] == results["resource"]["n_critic"] == [100, 100]
    assert [k for k, *_ in rows] == [0, 1, 2] and len(lines) == 3
    # same seed, same inputs: the same initial state (whatever the steps then do: that is
    # the measurement, not a property of the tool)
    assert rows[0][1:] == (0.0, 0.0)
    assert lines[1].startswith("after step 1: max |reference - resource| weights ")
    assert not list(tmp_path.glob("*/state*.npz"))  # each state removed once compared
