"""Parity with the authors' binary neurons, rebuilt in TF1 graph mode.

The reference follows the semantics of `bgan/utils/ops.py` in salu133445/binarygan (written
here from its description, not copied): `p = sigmoid(slope * x)`; DBN `round(p)` with the
`Round` gradient overridden to `Identity`; SBN `ceil(p - u)` with `Ceil` -> `Identity` and
the subtraction's gradient passing to `p` only, via `gradient_override_map` in a
`tf.compat.v1` graph and session.
"""

import numpy as np
import pytest
import tensorflow as tf

from binarygan_tf.model import neurons
from binarygan_tf.model.neurons import DeterministicBinaryNeuron, StochasticBinaryNeuron

_GRAD_NAME = "BinaryGanTfTest_SubPassFirst"


def _register_sub_gradient():
    try:

        @tf.RegisterGradient(_GRAD_NAME)
        def _sub_grad(op, grad):  # noqa: ANN001
            return [grad, tf.zeros(tf.shape(op.inputs[1]))]
    except KeyError:  # already registered in this process
        pass


def _tf1_reference(x, slope, upstream, noise=None):
    """(output, preactivated, d(sum(output*upstream))/dx) from a TF1 graph."""
    _register_sub_gradient()
    graph = tf.Graph()
    with graph.as_default():
        v1 = tf.compat.v1
        x_ph = v1.placeholder(tf.float32, x.shape)
        slope_t = tf.constant(slope, tf.float32)
        p = tf.sigmoid(slope_t * x_ph)
        if noise is None:
            with graph.gradient_override_map({"Round": "Identity"}):
                out = tf.round(p)
        else:
            u = tf.constant(noise)
            with graph.gradient_override_map({"Ceil": "Identity", "Sub": _GRAD_NAME}):
                out = tf.math.ceil(p - u)
        loss = tf.reduce_sum(out * upstream)
        grad = v1.gradients(loss, x_ph)[0]
        with v1.Session(graph=graph) as sess:
            return sess.run([out, p, grad], {x_ph: x})


def _ours(layer, x, upstream):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out, p = layer(x)
        loss = tf.reduce_sum(out * upstream)
    return out.numpy(), p.numpy(), tape.gradient(loss, x).numpy()


CASES = [(seed, slope) for seed in (0, 1, 2) for slope in (1.0, 1.21, 3.0, 6.7275)]


@pytest.mark.parametrize("seed,slope", CASES)
def test_dbn_matches_tf1(seed, slope):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=2.0, size=(32, 64)).astype(np.float32)
    upstream = rng.normal(size=x.shape).astype(np.float32)
    ref_out, ref_p, ref_grad = _tf1_reference(x, slope, upstream)
    layer = DeterministicBinaryNeuron()
    layer.slope.assign(slope)
    out, p, grad = _ours(layer, x, upstream)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_allclose(p, ref_p, atol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, atol=1e-6)


@pytest.mark.parametrize("seed,slope", CASES)
def test_sbn_matches_tf1_given_the_same_noise(seed, slope, monkeypatch):
    rng = np.random.default_rng(100 + seed)
    x = rng.normal(scale=2.0, size=(32, 64)).astype(np.float32)
    upstream = rng.normal(size=x.shape).astype(np.float32)
    noise = rng.uniform(size=x.shape).astype(np.float32)
    ref_out, ref_p, ref_grad = _tf1_reference(x, slope, upstream, noise=noise)
    monkeypatch.setattr(
        neurons.random_draws,
        "uniform",
        lambda shape, seed_generator, dtype=None: tf.constant(noise),
    )
    layer = StochasticBinaryNeuron(seed=0)
    layer.slope.assign(slope)
    out, p, grad = _ours(layer, x, upstream)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_allclose(p, ref_p, atol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, atol=1e-6)
    assert 0.2 < out.mean() < 0.8  # the case exercises both outcomes
