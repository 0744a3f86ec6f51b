"""Binary neurons: forward values, straight-through gradients, slope, SBN statistics, XLA,
mixed precision."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from binarygan_tf.model import neurons
from binarygan_tf.model.neurons import (
    DeterministicBinaryNeuron,
    SigmoidNeuron,
    StochasticBinaryNeuron,
)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logits(shape=(16, 50), seed=0, scale=3.0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape).astype(np.float32)


def _forward_and_grad(layer, x, upstream):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out, p = layer(x)
        loss = tf.reduce_sum(out * upstream)
    return out.numpy(), p.numpy(), tape.gradient(loss, x).numpy()


@pytest.mark.parametrize("slope", [1.0, 1.1, 2.5937424, 6.7275])  # 1.1**0, **1, **10, **20
def test_dbn_matches_closed_form(slope):
    x = _logits()
    upstream = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    layer = DeterministicBinaryNeuron()
    layer.slope.assign(slope)
    out, p, grad = _forward_and_grad(layer, x, upstream)
    p_ref = _sigmoid(slope * x.astype(np.float64))
    np.testing.assert_allclose(p, p_ref, atol=1e-6)
    np.testing.assert_array_equal(out, (p_ref > 0.5).astype(np.float32))
    # straight-through: d out / d x = slope * p * (1 - p)
    np.testing.assert_allclose(grad, upstream * slope * p_ref * (1 - p_ref), atol=1e-6)


def test_slope_scales_gradient_as_closed_form():
    x = np.array([[-2.0, -0.3, 0.0, 0.4, 1.5]], np.float32)
    grads = {}
    for slope in (1.0, 2.0):
        layer = DeterministicBinaryNeuron()
        layer.slope.assign(slope)
        _, p, grads[slope] = _forward_and_grad(layer, x, np.ones_like(x))
        np.testing.assert_allclose(grads[slope], slope * p * (1 - p), atol=1e-7)
    # At x = 0 the sigmoid is 0.5 for every slope, so the gradient is exactly slope / 4.
    assert grads[1.0][0, 2] == pytest.approx(0.25)
    assert grads[2.0][0, 2] == pytest.approx(0.5)
    # Away from 0 a steeper slope sharpens: at x = -2 the gradient shrinks.
    assert grads[2.0][0, 0] < grads[1.0][0, 0]


def test_dbn_threshold_is_strict():
    layer = DeterministicBinaryNeuron()
    out, p = layer(tf.constant([[0.0, 1e-3, -1e-3]]))
    assert p.numpy()[0, 0] == 0.5
    np.testing.assert_array_equal(out.numpy(), [[0.0, 1.0, 0.0]])


def test_sbn_forward_and_gradient_with_known_noise(monkeypatch):
    x = _logits(seed=3)
    noise = np.random.default_rng(4).uniform(size=x.shape).astype(np.float32)
    monkeypatch.setattr(
        neurons.random_draws,
        "uniform",
        lambda shape, seed_generator, dtype=None: tf.constant(noise),
    )
    layer = StochasticBinaryNeuron(seed=1)
    layer.slope.assign(1.3)
    upstream = np.random.default_rng(5).normal(size=x.shape).astype(np.float32)
    out, p, grad = _forward_and_grad(layer, x, upstream)
    p_ref = _sigmoid(1.3 * x.astype(np.float64))
    np.testing.assert_array_equal(out, (p_ref > noise).astype(np.float32))
    np.testing.assert_allclose(grad, upstream * 1.3 * p_ref * (1 - p_ref), atol=1e-6)


def test_sbn_firing_rate_matches_p():
    # Logits chosen so p = 0.1, 0.5, 0.8 exactly; 40,000 draws per value.
    p_true = np.array([0.1, 0.5, 0.8])
    logits = np.log(p_true / (1 - p_true)).astype(np.float32)
    x = np.tile(logits, (40000, 1))
    out, _ = StochasticBinaryNeuron(seed=7)(tf.constant(x))
    rate = out.numpy().mean(axis=0)
    # 6 standard errors: a correct neuron fails with probability ~1e-9; a neuron that fired
    # at p +/- 0.01 fails (sd <= 0.0025).
    se = np.sqrt(p_true * (1 - p_true) / x.shape[0])
    assert np.all(np.abs(rate - p_true) < 6 * se), (rate, p_true)


def test_sbn_is_seeded_and_draws_fresh_noise_per_call():
    x = tf.zeros((8, 100))  # p = 0.5: maximal randomness
    a1, _ = StochasticBinaryNeuron(seed=11)(x)
    a2, _ = StochasticBinaryNeuron(seed=11)(x)
    layer = StochasticBinaryNeuron(seed=11)
    b1, _ = layer(x)
    b2, _ = layer(x)
    np.testing.assert_array_equal(a1.numpy(), a2.numpy())
    assert not np.array_equal(b1.numpy(), b2.numpy())


def test_outputs_are_exact_binary_and_float32():
    for layer in (DeterministicBinaryNeuron(), StochasticBinaryNeuron(seed=0)):
        out, p = layer(tf.constant(_logits()))
        assert out.dtype == tf.float32 and p.dtype == tf.float32
        assert set(np.unique(out.numpy())) <= {0.0, 1.0}


def test_use_slope_false_ignores_the_slope():
    x = tf.constant(_logits())
    layer = DeterministicBinaryNeuron(use_slope=False)
    layer.slope.assign(3.0)
    _, p = layer(x)
    np.testing.assert_allclose(p.numpy(), _sigmoid(x.numpy()), atol=1e-6)


def test_sigmoid_neuron_is_plain_sigmoid():
    x = _logits()
    out, p = SigmoidNeuron()(tf.constant(x))
    np.testing.assert_allclose(out.numpy(), _sigmoid(x), atol=1e-6)
    np.testing.assert_array_equal(out.numpy(), p.numpy())


@pytest.mark.parametrize("cls", [DeterministicBinaryNeuron, StochasticBinaryNeuron])
def test_works_under_xla_with_same_values(cls):
    x = tf.constant(_logits(seed=9))
    layer = cls()
    layer.slope.assign(1.7)

    def value_and_grad(inp):
        with tf.GradientTape() as tape:
            tape.watch(inp)
            out, p = layer(inp)
            loss = tf.reduce_sum(out)
        return out, p, tape.gradient(loss, inp)

    out, p, grad = tf.function(value_and_grad, jit_compile=True)(x)
    assert set(np.unique(out.numpy())) <= {0.0, 1.0}
    np.testing.assert_allclose(grad.numpy(), 1.7 * p.numpy() * (1 - p.numpy()), atol=1e-6)
    if cls is DeterministicBinaryNeuron:
        eager_out, _ = layer(x)
        np.testing.assert_array_equal(out.numpy(), eager_out.numpy())


def test_mixed_precision_keeps_binarization_in_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((10,))
        h = keras.layers.Dense(10)(inputs)
        out, p = DeterministicBinaryNeuron()(h)
        model = keras.Model(inputs, [out, p])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.layers[1].compute_dtype == "float16"
    o, pv = model(np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32))
    assert o.dtype == tf.float32 and pv.dtype == tf.float32
    assert set(np.unique(o.numpy())) <= {0.0, 1.0}
    np.testing.assert_array_equal(o.numpy(), (pv.numpy() > 0.5).astype(np.float32))


def test_random_draws_match_keras_random_outside_xla():
    """Philox asked for by name draws exactly what keras.random draws (TF kernels), so the
    switch that keeps XLA fast changes nothing for runs without XLA."""
    from binarygan_tf.model import random_draws

    for ours, theirs in (
        (random_draws.uniform, keras.random.uniform),
        (random_draws.normal, keras.random.normal),
    ):
        a = ours((3, 5), keras.random.SeedGenerator(42))
        b = theirs((3, 5), seed=keras.random.SeedGenerator(42))
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    generator = keras.random.SeedGenerator(1)
    first, second = random_draws.uniform((4,), generator), random_draws.uniform((4,), generator)
    assert not np.array_equal(first.numpy(), second.numpy())  # the generator advances
