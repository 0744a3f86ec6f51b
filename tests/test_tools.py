"""The diagnostic scripts in tools/ on a tiny run."""

import os
import re
import sys

import pytest

from binarygan_tf import train_lib
from tests.helpers import ROOT, tiny_config

sys.path.insert(0, os.path.join(ROOT, "tools"))

import critic_weights  # noqa: E402


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
