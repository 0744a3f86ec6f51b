"""bench/throughput.py keeps working (a few steps on random data); it times nothing here."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# MLP discriminator forward, multiply-adds x 2 per sample: 784*512 + 512*256 + 256*1.
MLP_D_FORWARD_FLOPS = 2 * (784 * 512 + 512 * 256 + 256)


def test_worker_reports_rates_and_counted_flops(tmp_path):
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "bench", "throughput.py"),
         "--worker=mlp:dbn:wgan-gp", "--steps=2", "--warmup=1", "--repeats=1",
         f"--mnist_dir={tmp_path}/none"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads([l for l in proc.stdout.splitlines() if l.startswith("{")][-1])
    assert record["data"] == "random" and record["g_steps_per_s"] > 0
    # A WGAN-GP critic update runs D forward on real, fake and interpolated batches of 64,
    # then backward passes: at least 3 forwards, and not absurdly more.
    critic = record["critic_update_flops"]
    assert 3 * 64 * MLP_D_FORWARD_FLOPS < critic < 12 * 64 * MLP_D_FORWARD_FLOPS
    assert record["flops_per_g_step"] == 5 * critic + record["generator_update_flops"]
