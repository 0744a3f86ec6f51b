"""bench/throughput.py keeps working (a few steps on random data); it times nothing here."""

import json
import os

import pytest

from tests.helpers import run_script

pytestmark = pytest.mark.slow  # runs benchmark workers in subprocesses

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# MLP discriminator forward, multiply-adds x 2 per sample: 784*512 + 512*256 + 256*1.
MLP_D_FORWARD_FLOPS = 2 * (784 * 512 + 512 * 256 + 256)


def test_worker_reports_rates_and_counted_flops(tmp_path):
    proc = run_script(
        "bench/throughput.py",
        [
            "--worker=mlp:dbn:wgan-gp",
            "--steps=2",
            "--warmup=1",
            "--repeats=1",
            f"--mnist_dir={tmp_path}/none",
        ],
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads([x for x in proc.stdout.splitlines() if x.startswith("{")][-1])
    assert record["data"] == "random" and record["g_steps_per_s"] > 0
    # A WGAN-GP critic update runs D forward on real, fake and interpolated batches of 64,
    # then backward passes: at least 3 forwards, and not absurdly more.
    critic = record["critic_update_flops"]
    assert 3 * 64 * MLP_D_FORWARD_FLOPS < critic < 12 * 64 * MLP_D_FORWARD_FLOPS
    assert record["flops_per_g_step"] == 5 * critic + record["generator_update_flops"]


def _profile_step_module():
    from bench import profile_step

    return profile_step


def test_profile_categories_count_kernels_once():
    categorize = _profile_step_module().categorize
    # TensorFlow ops, by op type, with the layer and pass they belong to.
    assert categorize(
        "StatefulPartitionedCall/while/body/_102/gradient_tape/while/"
        "discriminator_5/conv_2_1/convolution/Conv2DBackpropFilter:"
        "Conv2DBackpropFilter"
    ) == ("convolution", "Conv2DBackpropFilter (discriminator/conv_2, grad)")
    assert (
        categorize("a/gradient_tape/gradient_tape/discriminator_1/dense_3_1/MatMul:MatMul")[1]
        == "MatMul (discriminator/dense_3, 2nd-order grad)"
    )
    assert (
        categorize("x/generator_1/transconv_2_1/conv_transpose:Conv2DBackpropInput")[0]
        == "convolution"
    )
    assert categorize("x/discriminator/lrelu_1/LeakyRelu:LeakyRelu")[0] == "elementwise"
    # XLA thunks, by HLO name without its number.
    assert categorize("MatMul.226") == ("matmul", "MatMul")
    assert categorize("multiply_add_fusion.11") == ("elementwise (fused)", "multiply_add_fusion")
    assert categorize("copy.3") == ("copy / transpose", "copy")
    # Wrappers and executor bookkeeping contain the kernels above: never counted.
    for wrapper in ("ThunkExecutor::Execute", "ExecutorState::Process", "ParallelFor", "while"):
        assert categorize(wrapper) is None


def test_profile_step_traces_and_sums_kernels(tmp_path):
    out = tmp_path / "profile.md"
    proc = run_script(
        "bench/profile_step.py",
        [
            "--config=mlp:dbn:wgan",
            "--steps=2",
            "--warmup=1",
            f"--mnist_dir={tmp_path}/none",
            f"--logdir={tmp_path}/trace",
            f"--markdown={out}",
        ],
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    rows = {x.split("|")[1].strip(): x for x in text.splitlines() if x.startswith("| ")}
    # The MLP step is matrix products first of all, named as such by XLA and by oneDNN.
    share = float(rows["matmul"].split("|")[3].strip().rstrip("%"))
    assert 20 <= share <= 100, text
    assert list(tmp_path.glob("trace/**/*.xplane.pb"))


def test_kernel_paths_prints_both_paths_for_products_and_adam(tmp_path):
    proc = run_script("bench/kernel_paths.py", ["--quick"], cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if line.startswith("| ")]
    product = [r for r in rows if r[0].strip() == "64 x 784 x 512"]
    adam = {r[0].strip(): r for r in rows if r[0].strip() in ("Keras' ops", "fused kernel")}
    assert len(product) == 1 and set(adam) == {"Keras' ops", "fused kernel"}, proc.stdout
    for row in [*product, *adam.values()]:
        figures = [float(cell) for cell in row[-2:]]  # XLA, then the kernels
        assert all(f > 0 for f in figures), row


def test_ab_levers_variants_parse_and_reject_typos():
    from bench import ab_levers

    v = ab_levers.parse_variant(
        'spe50|env=TF_ENABLE_ONEDNN_OPTS=1;XLA_FLAGS=--a=b|overrides={"steps_per_execution": 50}'
    )
    assert v["label"] == "spe50"
    assert v["env"] == {"TF_ENABLE_ONEDNN_OPTS": "1", "XLA_FLAGS": "--a=b"}
    assert json.loads(v["overrides"]) == {"steps_per_execution": 50}
    assert ab_levers.parse_variant("base")["env"] == {}
    with pytest.raises(SystemExit):
        ab_levers.parse_variant("x|overide={}")
    with pytest.raises(ValueError):
        ab_levers.parse_variant("x|overrides={not json")


def test_percent_of_peak_uses_the_peak_measured_beside_each_round():
    import argparse

    from bench import throughput

    def record(rate, peak, peer_rate):
        return {
            "matmul_peak": peak,
            "tf1": {"g_steps_per_s": peer_rate},
            "ours": {"g_steps_per_s": rate, "flops_per_g_step": 4e9, "peak_rss_mb": 900},
        }

    # Round 1: a slow minute (peak 100, 20 steps/s = 80%); round 2 fast (peak 160, 30 = 75%);
    # round 3 (peak 120, 21 = 70%). A single peak of 100 would have put round 2 at 120%.
    rounds = [record(20, 100, 10), record(30, 160, 20), record(21, 120, 10)]
    assert abs(throughput.percent_of_peak(rounds) - 75.0) < 1e-9
    table = throughput.markdown(
        {"mlp:dbn:wgan-gp": rounds}, argparse.Namespace(peers=["tf1"]), "cmd"
    )
    assert "peak 120 GFLOP/s (median; 100-160 over the 3 measurements" in table
    row = [x for x in table.splitlines() if x.startswith("| mlp")][0].split(" | ")
    # median rate 21; median of the per-round ratios 2.0, 1.5, 2.1 -> 2.0; 75% of peak
    assert row[1] == "21.00" and row[4] == "**2.00x**" and row[-2] == "75%"


def test_authors_peer_runs_their_code_as_their_loop_does(tmp_path):
    """The "authors" peer: their unmodified code, through binarygan_tf/authors/worker.py."""
    import argparse

    from bench import throughput
    from tests import helpers

    repo = helpers.authors_repo_or_skip()

    args = argparse.Namespace(
        warmup=1, repeats=1, mnist_dir=f"{tmp_path}/none", authors_repo=repo, timeout=300
    )
    record = throughput.run_peer("authors", "mlp:dbn:wgan", args, steps=2)
    assert record is not None
    assert record["impl"] == "authors_code" and record["data"] == "random"
    assert record["g_steps_per_s"] > 0 and record["g_steps_per_block"] == 2
    # Their WGAN: BinaryGAN, G mlp_round, D mlp, RMSProp (paper Sec. 4.5); their parameter count
    # is the paper's MLP (G 939,312 + D 533,505) plus their trainable slope scalar.
    assert record["presets"] == ["binarygan", "mlp_round", "mlp", "rmsprop"]
    assert record["trainable_parameters"] == 939_312 + 533_505 + 1


def test_gpu_check_says_when_there_is_no_gpu_and_runs_its_matrix_on_the_cpu(tmp_path, capsys):
    """bench/gpu_check.py: exit 0 and say so where no GPU is visible (CI, this machine); its
    dry run on the CPU trains, exports and samples each asked-for mode and checks the samples
    are exactly binary."""
    import tensorflow as tf

    from bench import gpu_check
    from tests.helpers import write_fake_mnist

    if not tf.config.list_physical_devices("GPU"):
        assert gpu_check.main([]) == 0
        assert "no GPU visible" in capsys.readouterr().out
    mnist = write_fake_mnist(tmp_path / "mnist")
    args = ["--device=cpu", "--archs=mlp", "--objectives=wgan", "--xla=off", "--precisions=off"]
    assert gpu_check.main([*args, "--steps=2", f"--mnist_dir={mnist}"]) == 0
    out = capsys.readouterr().out
    row = json.loads(out.split("ok   ", 1)[1].splitlines()[0])
    assert row["binary"] and row["finite_losses"] and row["steps"] == 2
    assert "every run passed" in out
    with pytest.raises(SystemExit, match="--precisions='fp8'"):
        gpu_check.main(["--precisions=fp8"])


def test_concurrent_runs_knows_the_eleven_configurations_and_the_schedule():
    """bench/concurrent_runs.py derives the sweep from the paper's eleven configurations and
    the authors' critic schedule: 137,620 updates in a 20-epoch run against 6 per step."""
    from bench import concurrent_runs

    configurations = concurrent_runs.paper_configurations()
    assert len(configurations) == 11
    assert configurations["exp4_cnn_sbn"] == ("cnn:sbn:wgan-gp", {"follow": "code"})
    assert configurations["extra_mlp_dbn_paperbn"] == ("mlp:dbn:wgan-gp", {"follow": "paper"})
    assert concurrent_runs.schedule_factor() == pytest.approx(137_620 / (21_860 * 6))


def test_concurrent_runs_measures_alone_and_side_by_side(tmp_path):
    """One configuration on random data (no MNIST here), alone and 2 side by side pinned to
    a core each: a rate per worker, and the derived sweep times in the JSON."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 usable cores")
    out = tmp_path / "c.json"
    proc = run_script(
        "bench/concurrent_runs.py",
        [
            "--runs=exp1_mlp_dbn",
            "--steps=2",
            "--warmup=1",
            "--repeats=1",
            f"--mnist_dir={tmp_path}/none",
            f"--out={tmp_path}/logs",
            f"--json={out}",
        ],
        cwd=REPO,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(out.read_text())
    run = record["runs"]["exp1_mlp_dbn"]
    assert len(run["alone"]) == 1 and len(run["side_by_side"]) == 2
    assert all(rate > 0 for rate in run["alone"] + run["side_by_side"])
    assert record["hours_one_after_another"] > 0 and record["hours_side_by_side"] > 0
    assert "exp1_mlp_dbn" in proc.stdout and "side by side, longest first" in proc.stdout


def test_small_kernels_reports_each_kernel_and_its_equivalent(tmp_path):
    out = tmp_path / "kernels.md"
    proc = run_script("bench/small_kernels.py", ["--quick", f"--markdown={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in out.read_text().splitlines() if line.startswith("| ")]
    kernels = {r[0].strip(): r for r in rows[1:]}
    assert set(kernels) == {
        "conv_1 forward",
        "conv_1 input gradient",
        "conv_1 filter gradient",
        "pool_1 second derivative",
        "pool_2 second derivative",
    }, rows
    # The pooling's equivalent is a selection (no arithmetic), so it must give the same values
    # on any CPU; whether the depthwise convolution sums in the same order is the kernels'
    # business, so only its report is checked.
    for name, row in kernels.items():
        assert (
            row[3].strip() == "yes" if name.startswith("pool") else row[3].strip() in {"yes", "NO"}
        )
        assert float(row[1]) >= 0 and float(row[2].split()[0]) >= 0, row
    assert "ms per draw" in proc.stdout
