"""Late-training parity from one of their checkpoints (tools/late_parity.py, issue #28 2a) and
the reproduction of their input stream (tools/their_inputs.py, 2b): the pure pieces, and the
checkpoint-start plumbing on a tiny budget against their code (slow)."""

import json

import numpy as np
import pytest

from binarygan_tf.authors import draws, parity, presets
from binarygan_tf.errors import UserError
from tests import helpers


# ------------------------------------------------------------------ their stream
def test_their_stream_is_what_their_loop_draws_after_np_random_seed():
    """Their BinaryGAN.train, as written (bgan/mnist/models.py), drawing from NumPy's global
    generator after worker._seed's np.random.seed: the sampler's z and batch, then per epoch
    all z and the batch order. TheirStream gives the same numbers, epoch after epoch."""
    n, batch, z_dim, seed = 300, 16, 8, 5
    kept = np.random.get_state()
    try:
        np.random.seed(seed)
        z_sample = np.random.normal(size=(batch, z_dim))
        x_sample = np.random.choice(n, batch, False)
        epochs = [
            (
                np.random.normal(size=(n // batch, batch, z_dim)),
                np.random.choice(n, (n // batch, batch), False),
            )
            for _ in range(3)
        ]
    finally:
        np.random.set_state(kept)
    stream = draws.TheirStream(seed, n, batch, z_dim)
    assert np.array_equal(stream.z_sample, z_sample)
    assert np.array_equal(stream.sample_rows, x_sample)
    for z, rows in epochs:
        ours_z, ours_rows = stream.epoch()
        assert np.array_equal(ours_z, z) and np.array_equal(ours_rows, rows)
    # each epoch a draw without replacement: a batch order over distinct images
    assert len(np.unique(rows)) == rows.size
    other = draws.TheirStream(seed + 1, n, batch, z_dim)
    assert not np.array_equal(other.z_sample, z_sample)


# ------------------------------------------------------------------ their counters
def test_generator_step_of_a_global_step_follows_their_schedule():
    assert parity.generator_step_of(0) == (0, 0)
    assert parity.generator_step_of(101) == (1, 100)
    assert parity.generator_step_of(25 * 101) == (25, 2500)
    # an epoch of 1,093 steps: 25 + 2 (500, 1000) steps of 100 critic updates, the rest 5
    assert parity.generator_step_of(9123) == (1093, 8030)
    assert parity.generator_step_of(29367) == (4372, 24995)  # epoch 4, their seed-3 run
    with pytest.raises(UserError, match="ends no generator step"):
        parity.generator_step_of(50)


def test_late_inputs_count_the_schedule_from_the_start_step():
    images = (np.random.default_rng(0).random((40, 28, 28, 1)) < 0.2).astype(np.uint8)
    inputs, counts = draws.late_inputs("mlp", "dbn", "wgan", images, 498, 4, 8, seed=3)
    assert counts == [5, 5, 100, 5]  # step 500 is one of 100
    assert inputs["z"].shape == (4, 8, 128) and inputs["z"].dtype == np.float32
    assert inputs["real"].shape == (4, 8, 28, 28, 1)
    for batch in inputs["real"]:  # real images, each batch without repeats
        rows = [int(np.nonzero((images == x).all(axis=(1, 2, 3)))[0][0]) for x in batch]
        assert len(set(rows)) == len(rows)
    again, _ = draws.late_inputs("mlp", "dbn", "wgan", images, 498, 4, 8, seed=3)
    assert all(np.array_equal(again[k], inputs[k]) for k in inputs)
    sbn, _ = draws.late_inputs("mlp", "sbn", "wgan-gp", images, 0, 2, 8, seed=3)
    assert sbn["noise_critic"].shape == (200, 8, 784) and sbn["eps_critic"].shape[0] == 200


def test_resolve_checkpoint_takes_a_prefix_a_folder_or_a_run(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for g in (9123, 15871):
        (folder / f"BinaryGAN.model-{g}.index").write_text("")
    (tmp_path / "authors_progress.json").write_text(
        json.dumps({"checkpoints": {"BinaryGAN.model-9123": 1093, "BinaryGAN.model-15871": 2186}})
    )
    newest = str(folder / "BinaryGAN.model-15871")
    assert parity.resolve_checkpoint(str(tmp_path)) == (newest, 2186)
    assert parity.resolve_checkpoint(str(folder)) == (newest, 2186)
    older = str(folder / "BinaryGAN.model-9123")
    assert parity.resolve_checkpoint(older) == (older, 1093)
    (tmp_path / "authors_progress.json").unlink()
    assert parity.resolve_checkpoint(older) == (older, None)
    with pytest.raises(UserError, match="not a checkpoint"):
        parity.resolve_checkpoint(str(folder / "BinaryGAN.model-1"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no checkpoint"):
        parity.resolve_checkpoint(str(tmp_path / "empty"))


def test_worst_by_point_keeps_each_points_worst():
    def update(point, w, s, moved):
        return {"point": point, "moved": moved, "weights": {"ratio": w}, "slots": {"ratio": s}}

    run = {
        "updates": [
            update("first", 0.1, 0.2, 1e-4),
            update("first", 0.3, 0.1, 2e-4),
            update("generator", 0.05, 0.5, 3e-4),
        ]
    }
    assert parity.worst_by_point(run) == {
        "first": {"weights": 0.3, "slots": 0.2, "moved": 2e-4},
        "generator": {"weights": 0.05, "slots": 0.5, "moved": 3e-4},
    }
    # a checkpoint start has no initial-slots check (its slots are training's)
    assert parity.violations(dict(run, steps=[], initial_slots=None)) == []


# ------------------------------------------------------------------ from a checkpoint
@pytest.mark.slow
def test_parity_from_their_checkpoint_counts_the_schedule_from_its_step(tmp_path):
    """Their run of 20 steps (still in the 100-critic warm-up) saves a checkpoint; from it
    both codes run 6 steps, the warm-up ending after 5: both schedules must count from the
    checkpoint's step 20, and every update agree within its bound."""
    from binarygan_tf.authors import compare

    repo = helpers.authors_repo_or_skip()
    helpers.write_fake_mnist(tmp_path / "mnist", n_train=160, n_test=64)
    run_dir = str(tmp_path / "theirs")
    config = compare.CompareConfig(
        neuron="dbn",
        objective="wgan",
        arch="mlp",
        seed=7,
        max_steps=20,
        out_dir=run_dir,
        mnist_dir=str(tmp_path / "mnist"),
        authors_repo=repo,
    )
    assert compare.run(config, log=lambda *_: None)["generator_steps"] == 20
    checkpoint, recorded = parity.resolve_checkpoint(run_dir)
    assert recorded == 20
    assert parity.generator_step_of(parity.checkpoint_global_step(checkpoint)) == (20, 2000)
    from binarygan_tf.training import data

    images = data.load_training_images(str(tmp_path / "mnist"))
    work = tmp_path / "work"
    work.mkdir()
    run = parity.run_case(
        "mlp",
        "dbn",
        "wgan",
        str(work),
        repo,
        checkpoint=checkpoint,
        images=images,
        steps=6,
        batch=64,
    )
    assert run["start"] == {"generator_step": 20, "critic_updates": 2000}
    assert run["counts"] == [presets.critic_count(20 + k) for k in range(6)] == [100] * 5 + [5]
    assert run["result"]["n_critic"] == run["counts"]
    assert run["result"]["start_step"] == 20
    assert run["result"]["start_global_step"] == 20 * 101
    # their worker restored the file: its state before the first step is the checkpoint's
    state = parity.checkpoint_state(checkpoint)
    assert all(np.array_equal(state[n], run["start_state"][n]) for n in state)
    assert parity.violations(run) == [], parity.report(run)
