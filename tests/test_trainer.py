"""The adversarial trainer: every neuron x objective x arch trains; losses, clipping, gradient
penalty and critic schedule behave as specified."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from binarygan_tf.model import networks, objectives, random_draws
from binarygan_tf.model.trainer import CriticSchedule
from binarygan_tf.training import train_lib

TINY = CriticSchedule(steps=2, warmup_steps=3, warmup_until=1, warmup_every=1000)


def _real_batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(n, 28, 28, 1)) < 0.19).astype(np.float32)


def _trainer(arch="mlp", neuron="dbn", objective="wgan-gp", schedule=TINY, seed=0, follow="paper"):
    """The trainer train.py builds (eager: these tests step it by hand), tiny schedule."""
    keras.utils.set_random_seed(seed)
    return train_lib.build_trainer(
        train_lib.TrainConfig(
            arch=arch,
            neuron=neuron,
            objective=objective,
            seed=seed,
            follow=follow,
            critic_steps=schedule.steps,
            critic_warmup_steps=schedule.warmup_steps,
            critic_warmup_until=schedule.warmup_until,
            critic_warmup_every=schedule.warmup_every,
            jit_compile=False,
            steps_per_execution=1,  # the tests' fit() calls count single steps
        )
    )


def _dataset(n_batches=4, batch=16):
    x = np.concatenate([_real_batch(batch, s) for s in range(n_batches)])
    return tf.data.Dataset.from_tensor_slices(x).batch(batch, drop_remainder=True).repeat()


def test_default_schedule_is_the_authors():
    s = CriticSchedule()
    counts = {
        step: int(s.count(tf.constant(step, tf.int64)))
        for step in (0, 1, 24, 25, 26, 499, 500, 501, 1000, 1001)
    }
    assert counts == {
        0: 100,
        1: 100,
        24: 100,
        25: 5,
        26: 5,
        499: 5,
        500: 100,
        501: 5,
        1000: 100,
        1001: 5,
    }


def test_critic_update_count_follows_schedule():
    schedule = CriticSchedule(steps=2, warmup_steps=7, warmup_until=3, warmup_every=5)
    t = _trainer(schedule=schedule)
    t.fit(_dataset(), epochs=1, steps_per_epoch=6, verbose=0)
    # steps 0,1,2 warm-up (7 each), 3,4 normal (2 each), step 5 is a multiple of 5 (7).
    assert int(t.d_optimizer.iterations.numpy()) == 7 * 3 + 2 * 2 + 7
    assert int(t.g_optimizer.iterations.numpy()) == 6
    assert int(t.generator_step.numpy()) == 6


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("objective", ["gan", "wgan", "wgan-gp"])
@pytest.mark.parametrize("neuron", ["dbn", "sbn", "real"])
def test_every_combination_trains_and_critic_improves(arch, objective, neuron):
    t = _trainer(arch, neuron, objective)
    real = tf.constant(_real_batch())
    z = tf.random.normal((16, networks.LATENT_DIM), seed=3)

    @tf.function
    def critic_loss():
        fake = t.generator(z, training=True)["samples"]
        return t.critic_loss(real, fake)[0]

    @tf.function
    def critic_updates(n):
        for _ in tf.range(n):
            t.critic_update(real, tf.stop_gradient(t.generator(z, training=True)["samples"]))

    before = float(critic_loss())
    critic_updates(tf.constant(30))
    after = float(critic_loss())
    assert np.isfinite(before) and np.isfinite(after)
    assert after < before - 1e-3, (before, after)

    history = t.fit(_dataset(), epochs=1, steps_per_epoch=3, verbose=0).history
    for name, values in history.items():
        assert np.all(np.isfinite(values)), name
    expected = {"d_loss", "g_loss", *t.critic_metric_names}
    assert set(history) == expected


def test_wgan_weights_stay_inside_the_clip():
    t = _trainer(objective="wgan")
    t.fit(_dataset(), epochs=1, steps_per_epoch=4, verbose=0)
    biggest = max(float(np.abs(v.numpy()).max()) for v in t.discriminator.trainable_variables)
    assert biggest <= 0.01 + 1e-7
    assert biggest > 0.009  # clipping is active, not vacuous


def test_gradient_penalty_matches_hand_computation_for_a_linear_critic():
    # D(x) = w . x + b has gradient w everywhere, so GP = (sqrt(1e-8 + |w|^2) - 1)^2 for any
    # interpolation weight.
    t = _trainer(objective="wgan-gp")
    w = np.random.default_rng(4).normal(scale=0.05, size=(784, 1)).astype(np.float32)
    linear = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    linear.layers[-1].set_weights([w, np.array([0.3], np.float32)])
    t.discriminator = linear
    gp = float(t.gradient_penalty(tf.constant(_real_batch(8, 1)), tf.constant(_real_batch(8, 2))))
    expected = (np.sqrt(1e-8 + np.sum(w.astype(np.float64) ** 2)) - 1.0) ** 2
    assert gp == pytest.approx(expected, rel=1e-5)


def test_gradient_penalty_keeps_its_epsilon_where_the_input_gradient_is_zero():
    # A critic flat in x (w = 0): GP = (sqrt(1e-8) - 1)^2 = (1 - 1e-4)^2 with the authors'
    # 1e-8 (1.0 without it), and its gradient stays finite (d sqrt(s)/ds is infinite at 0).
    t = _trainer(objective="wgan-gp")
    flat = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    flat.layers[-1].set_weights([np.zeros((784, 1), np.float32), np.array([0.3], np.float32)])
    t.discriminator = flat
    real, fake = tf.constant(_real_batch(8, 1)), tf.constant(_real_batch(8, 2))
    with tf.GradientTape() as tape:
        gp = t.gradient_penalty(real, fake)
    kernel_grad = tape.gradient(gp, flat.layers[-1].kernel)  # the bias does not reach grad_x
    assert float(gp) == pytest.approx((1.0 - 1e-4) ** 2, rel=1e-6)
    assert np.all(np.isfinite(kernel_grad.numpy()))


def test_gradient_penalty_uses_uniform_per_sample_interpolation(monkeypatch):
    # D(x) = 0.5 * |x|^2 has gradient x_hat = e*real + (1-e)*fake; with known e the penalty is
    # computable by hand.
    t = _trainer(objective="wgan-gp")
    t.discriminator = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Lambda(
                lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])[:, None]
            ),
        ]
    )
    eps = np.array([0.0, 0.25, 1.0], np.float32).reshape(3, 1, 1, 1)
    monkeypatch.setattr(
        objectives.random_draws,
        "uniform",
        lambda shape, seed_generator, dtype=None: tf.constant(eps),
    )
    real, fake = _real_batch(3, 5), _real_batch(3, 6)
    x_hat = eps * real + (1 - eps) * fake
    norms = np.sqrt(1e-8 + np.sum(x_hat.astype(np.float64) ** 2, axis=(1, 2, 3)))
    gp = float(t.gradient_penalty(tf.constant(real), tf.constant(fake)))
    assert gp == pytest.approx(np.mean((norms - 1) ** 2), rel=1e-5)


def test_fixed_seed_gives_identical_first_losses():
    runs = [
        _trainer(seed=42).fit(_dataset(), epochs=1, steps_per_epoch=2, verbose=0).history
        for _ in range(2)
    ]
    other = _trainer(seed=43).fit(_dataset(), epochs=1, steps_per_epoch=2, verbose=0).history
    assert runs[0] == runs[1]
    assert runs[0]["d_loss"] != other["d_loss"]


def test_code_mode_rmsprop_accumulator_starts_at_one():
    t = _trainer(objective="wgan", follow="code")
    assert isinstance(t.d_optimizer, objectives.TF1RMSprop)
    assert all(np.all(v.numpy() == 1.0) for v in t.d_optimizer._velocities)
    assert isinstance(_trainer(objective="wgan").d_optimizer, keras.optimizers.RMSprop)


def test_generator_update_changes_only_the_generator():
    t = _trainer()
    d_before = [v.numpy().copy() for v in t.discriminator.trainable_variables]
    g_before = [v.numpy().copy() for v in t.generator.trainable_variables]
    t.generator_update(tf.random.normal((16, networks.LATENT_DIM), seed=1))
    assert all(
        np.array_equal(a, v.numpy())
        for a, v in zip(d_before, t.discriminator.trainable_variables, strict=True)
    )
    assert any(
        not np.array_equal(a, v.numpy())
        for a, v in zip(g_before, t.generator.trainable_variables, strict=True)
    )


@pytest.mark.parametrize("objective", ["wgan-gp", "gan"])
@pytest.mark.parametrize("neuron", ["dbn", "real"])
def test_sharing_the_generator_forward_computes_the_same_step(objective, neuron):
    """One G forward per generator step gives the same weights as recomputing G(z) for every
    critic update (deterministic outputs; float tolerance)."""
    trainers = []
    for share in (True, False):
        t = _trainer(neuron=neuron, objective=objective, seed=7)
        t.share_generator_forward = share
        t.fit(_dataset(), epochs=1, steps_per_epoch=3, verbose=0)
        trainers.append(t)
    for model in ("generator", "discriminator"):
        a = getattr(trainers[0], model).trainable_weights
        b = getattr(trainers[1], model).trainable_weights
        for va, vb in zip(a, b, strict=True):
            np.testing.assert_allclose(
                va.numpy(), vb.numpy(), rtol=1e-4, atol=1e-6, err_msg=f"{model}/{va.path}"
            )


def test_sbn_redraws_noise_for_each_critic_update():
    t = _trainer(neuron="sbn")
    neuron = networks.output_neuron(t.generator)
    out = t.generator(tf.zeros((4, networks.LATENT_DIM)), training=True)
    a = neuron.redraw(out["samples"], out["preactivated"]).numpy()
    b = neuron.redraw(out["samples"], out["preactivated"]).numpy()
    assert not np.array_equal(a, b)
    dbn = _trainer(neuron="dbn")
    out = dbn.generator(tf.zeros((4, networks.LATENT_DIM)), training=True)
    same = networks.output_neuron(dbn.generator).redraw(out["samples"], out["preactivated"])
    np.testing.assert_array_equal(same.numpy(), out["samples"].numpy())


def test_sbn_critic_updates_see_the_next_draws_in_order(monkeypatch):
    """The critic loop issues each SBN redraw one update ahead (trainer.critic_loop), yet
    every update sees exactly the draw the neuron would give one call at a time: the
    generator forward's draw first, then one per critic update, and no draw more (the seed
    advances once per draw, so the next step starts where it always did)."""
    schedule = CriticSchedule(steps=3, warmup_steps=3, warmup_until=0, warmup_every=1000)
    t = _trainer(neuron="sbn", schedule=schedule, seed=5)
    neuron = networks.output_neuron(t.generator)
    stream = keras.random.SeedGenerator(0)
    stream.state.assign(neuron.seed_generator.state.value)
    trainer_cls = type(t)
    captured, seen = {}, []
    critic_loop, critic_update = trainer_cls.critic_loop, trainer_cls.critic_update

    def recording_loop(self, real, z, generated):
        captured.update({k: v.numpy() for k, v in generated.items()})
        return critic_loop(self, real, z, generated)

    def recording_update(self, real, fake):
        seen.append(fake.numpy())
        return critic_update(self, real, fake)

    monkeypatch.setattr(trainer_cls, "critic_loop", recording_loop)
    monkeypatch.setattr(trainer_cls, "critic_update", recording_update)
    t.train_step(tf.constant(_real_batch()))  # eager: the loop runs its body in Python

    p = captured["preactivated"]
    draws = [random_draws.uniform(p.shape, stream).numpy() for _ in range(4)]
    np.testing.assert_array_equal(captured["samples"], (p > draws[0]).astype(np.float32))
    assert len(seen) == 3
    for i, fake in enumerate(seen):
        np.testing.assert_array_equal(fake, (p > draws[i + 1]).astype(np.float32))
    np.testing.assert_array_equal(neuron.seed_generator.state.numpy(), stream.state.numpy())

    # Compiled, as fit() runs it: still one seed advance per draw, 1 + 3 per step.
    monkeypatch.undo()
    before = neuron.seed_generator.state.numpy()
    t.fit(_dataset(), epochs=1, steps_per_epoch=2, verbose=0)
    assert (neuron.seed_generator.state.numpy() - before).tolist() == [0, 2 * 4]

    # A step without critic updates draws for the generator forward only.
    monkeypatch.setattr(CriticSchedule, "count", lambda self, step: tf.constant(0, tf.int32))
    before = neuron.seed_generator.state.numpy()
    t.train_step(tf.constant(_real_batch()))
    assert (neuron.seed_generator.state.numpy() - before).tolist() == [0, 1]


def _pinned_random(shape, seed_generator=None, dtype="float32"):
    """A stand-in for random_draws.{normal,uniform}: values in [0, 1) that depend only on the
    position, computed in float64 so XLA and TensorFlow's kernels give the same numbers."""
    n = tf.reduce_prod(shape)
    values = tf.math.floormod(tf.cast(tf.range(1, n + 1), tf.float64) * 0.6180339887498949, 1.0)
    return tf.cast(tf.reshape(values, shape), dtype)


@pytest.mark.parametrize("objective", ["wgan-gp", "wgan", "gan"])
@pytest.mark.parametrize("neuron", ["dbn", "sbn"])
def test_xla_step_computes_what_the_default_path_computes(objective, neuron, monkeypatch):
    """XLA (on by default for the MLP) computes the same training step: losses and weights
    within float tolerance. XLA's random-number kernels draw other (equally distributed)
    numbers than TensorFlow's for the same seed, so the draws are pinned here to compare the
    arithmetic itself."""
    monkeypatch.setattr(random_draws, "normal", _pinned_random)
    monkeypatch.setattr(random_draws, "uniform", _pinned_random)
    results = []
    for jit in (False, True):
        t = _trainer(neuron=neuron, objective=objective, seed=5, follow="code")
        t.compile(t.d_optimizer, t.g_optimizer, jit_compile=jit)
        logs = t.fit(_dataset(), epochs=1, steps_per_epoch=1, verbose=0).history
        results.append(
            (
                logs,
                [
                    v.numpy()
                    for v in t.generator.trainable_weights + t.discriminator.trainable_weights
                ],
            )
        )
    for key in results[0][0]:
        np.testing.assert_allclose(results[0][0][key], results[1][0][key], rtol=1e-4, atol=1e-6)
    # Weights: atol 1e-5 is a tenth of one Adam step (lr 1e-4). Adam divides by sqrt(v), so
    # a weight whose gradient is tiny turns a rounding difference into a visible one (seen:
    # 1.2e-6 on 1 of 131,072 weights); a real difference in the step moves weights by ~1e-4.
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
