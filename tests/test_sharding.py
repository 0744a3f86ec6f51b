"""sharding.py: which runs each machine of a job array trains, and reproduce.py --shard end to
end (smoke profile, tiny data)."""

import os

import pytest

from binarygan_tf.reproduction import experiments, sharding
from binarygan_tf.training import run_directory
from tests import helpers


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """helpers.smoke_shards: two machines of a job array, made once per test process."""
    return helpers.smoke_shards(tmp_path_factory)


@pytest.mark.slow
def test_shards_train_disjoint_shares_that_cover_every_run(shards):
    tmp_path, procs = shards
    trained = [helpers.trained(p.stdout) for p in procs]
    # a CNN step costs as much as eight MLP steps: the CNN run alone makes one shard
    assert trained == [
        ["exp4_cnn_dbn"],
        ["exp1_mlp_dbn", "exp1_mlp_sbn", "exp2_mlp_real", "exp1_mlp_dbn_seed1"],
    ]
    assert "shard 1/2: 4 of 5 runs" in procs[1].stdout
    # progress: which run of how many, with an ETA
    assert (
        "[1/4] exp1_mlp_dbn (MLP DBN, WGAN-GP): starting; ETA for the remaining 4 run(s)"
        in procs[1].stdout
    )
    for i, names in enumerate(trained):
        assert sorted(os.listdir(tmp_path / f"models{i}" / "smoke")) == sorted(
            names + ["README.md"]
        )
        for name in names:
            assert run_directory.exported_step(str(tmp_path / f"runs{i}" / name)) == 2
            assert run_directory.read_timing(str(tmp_path / f"runs{i}" / name))["sessions"] == 1
    assert not (tmp_path / "docs").exists()  # a shard writes no page


def test_shard_split_is_deterministic_covers_everything_once_and_balances_cost():
    costs = [0.05] * 13 + [0.25] * 3  # the registry: thirteen MLP runs, then three CNN runs
    for count in range(1, 6):
        owner = sharding.assign(costs, count)
        assert owner == sharding.assign(costs, count) and set(owner) == set(range(count))
        loads = [sum(c for c, o in zip(costs, owner, strict=True) if o == s) for s in range(count)]
        assert max(loads) - min(loads) <= 0.25 + 1e-9  # at most one CNN run apart
    assert sorted(sharding.assign(costs, 3)[13:]) == [0, 1, 2]  # each CNN run on its own machine
    shares = [
        sharding.share(experiments.RUNS, sharding.Shard(i, 4), lambda s: 1.0) for i in range(4)
    ]
    names = [s.name for share in shares for s in share]
    assert sorted(names) == sorted(s.name for s in experiments.RUNS)  # each once
    sizes = [len(share) for share in shares]  # equal costs: sizes at most one apart
    assert max(sizes) - min(sizes) == (1 if len(experiments.RUNS) % 4 else 0)
    assert sharding.parse(" 3/4 ") == sharding.Shard(3, 4)


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--shard=x", "--shard='x' is not INDEX/COUNT"),
        ("--shard=-1/2", "is not INDEX/COUNT"),
        ("--shard=2/2", "INDEX counts from 0, so it must be below COUNT (2)"),
        ("--shard=0/0", "COUNT must be at least 1"),
        (
            f"--shard=0/{len(experiments.RUNS) + 1}",
            f"{len(experiments.RUNS) + 1} shards for {len(experiments.RUNS)} run(s)",
        ),
        ("--stage=page --shard=0/2", "--stage=page builds the page from every run"),
    ],
)
def test_bad_shard_is_one_line_and_exit_2(tmp_path, flag, message):
    proc = helpers.reproduce(tmp_path, *flag.split())
    assert message in helpers.user_error(proc), proc.stderr
    assert not (tmp_path / "runs").exists()
