"""FusedAdam (objectives.py): TensorFlow's fused Adam kernel inside Keras' Adam computes Keras'
update, keeps Keras' slots, and is the optimizer the Adam objectives build."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from binarygan_tf.model import objectives

EPS32 = float(np.finfo(np.float32).eps)
STEPS = 5
SHAPES = [(784, 512), (512,), (3, 3, 1, 32)]


def _run(optimizer_cls, jit):
    """STEPS Adam updates of the authors' settings on fixed random gradients; returns the
    variables, the first moment and the second moment after each step."""
    init_rng, grad_rng = np.random.default_rng(0), np.random.default_rng(1)
    variables = [keras.Variable(init_rng.normal(size=s).astype("float32") * 0.02) for s in SHAPES]
    opt = optimizer_cls(
        learning_rate=objectives.LEARNING_RATE,
        beta_1=objectives.ADAM_BETAS[0],
        beta_2=objectives.ADAM_BETAS[1],
        epsilon=objectives.OPTIMIZER_EPSILON,
    )
    grads = [
        [tf.constant(grad_rng.normal(size=s).astype("float32")) for s in SHAPES]
        for _ in range(STEPS)
    ]
    step = tf.function(lambda g: opt.apply(g, variables), jit_compile=jit)
    history = []
    for g in grads:
        step(g)
        history.append(
            [
                (v.numpy(), opt._momentums[i].numpy(), opt._velocities[i].numpy())
                for i, v in enumerate(variables)
            ]
        )
    return history, int(opt.iterations.numpy())


@pytest.mark.parametrize("jit", [False, True], ids=["kernels", "xla"])
def test_fused_adam_computes_keras_adam(jit):
    """Bound, derived: both sides evaluate the same formulas in float32 and may round each
    of their few operations differently (contracted multiply-adds, another order of the
    vector code). The first moment m uses 3 operations, the second moment v 4, the weight's
    step u = alpha m / (sqrt(v) + eps) 4 and the weight update 1; each rounding is at most
    eps/2 of its result, differences carried from earlier steps decay by beta, and over T
    steps they add up at most T times. So, per element:
      |dm| <= T * 3 eps max|m|,   |dv| <= T * 4 eps max|v|,
      |dw| <= T * eps * (max|w| + (4 + 3 + 2) max|u|)  (the 3 and 2 from dm/m and dv/(2v)),
    with the maxima over the run of Keras' own values. A wrong kernel argument (a swapped
    beta, an unscaled learning rate, a missing bias correction) moves the weights by a
    sizeable fraction of u at the first step, orders above this."""
    ours, n_ours = _run(objectives.FusedAdam, jit)
    keras_run, n_keras = _run(keras.optimizers.Adam, jit)
    assert n_ours == n_keras == STEPS
    moved = 0.0
    for i in range(len(SHAPES)):
        w = np.stack([step[i][0] for step in keras_run])
        m = np.stack([step[i][1] for step in keras_run])
        v = np.stack([step[i][2] for step in keras_run])
        w_ours = np.stack([step[i][0] for step in ours])
        m_ours = np.stack([step[i][1] for step in ours])
        v_ours = np.stack([step[i][2] for step in ours])
        u = np.abs(np.diff(w, axis=0)).max()
        moved = max(moved, u)
        assert np.abs(m_ours - m).max() <= STEPS * 3 * EPS32 * np.abs(m).max()
        assert np.abs(v_ours - v).max() <= STEPS * 4 * EPS32 * np.abs(v).max()
        bound = STEPS * EPS32 * (np.abs(w).max() + 9 * u)
        assert np.abs(w_ours - w).max() <= bound, (i, np.abs(w_ours - w).max(), bound)
    assert moved > 1e-6  # the run did train: the bound is not vacuous against zero steps


def test_adam_objectives_build_the_fused_kernel_and_keep_the_slots(tmp_path):
    """WGAN-GP and GAN get FusedAdam (also under loss scaling); its slots are Keras' own, so
    a checkpoint written with Keras' Adam (every run before it) restores into it exactly."""
    for name in ("wgan-gp", "gan"):
        opt = objectives.OBJECTIVES[name].make_optimizer()
        assert type(opt) is objectives.FusedAdam
        scaled = objectives.OBJECTIVES[name].make_optimizer(mixed_float16=True)
        assert type(scaled.inner_optimizer) is objectives.FusedAdam

    def trained(optimizer):
        var = keras.Variable(np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3))
        optimizer.build([var])
        for k in range(3):
            optimizer.apply([tf.fill((2, 3), 0.5 + k)], [var])
        return var

    written = keras.optimizers.Adam()
    var = trained(written)
    path = tf.train.Checkpoint(optimizer=written, var=var).write(str(tmp_path / "ckpt"))
    restored = objectives.FusedAdam()
    restored.build([keras.Variable(np.zeros((2, 3), "float32"))])
    tf.train.Checkpoint(optimizer=restored).read(path).expect_partial()
    assert int(restored.iterations.numpy()) == 3
    for a, b in zip(written.variables, restored.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_fused_adam_leaves_amsgrad_to_keras():
    """AMSGrad has no fused kernel here, so FusedAdam runs Keras' own ops for it. The
    gradients shrink after a large one and beta_2 is small, so the second moment falls and
    AMSGrad's running maximum changes the steps: Adam without it lands far away (checked
    below), while FusedAdam(amsgrad=True) runs the very same ops as Keras' (bit for bit)."""

    def run(optimizer):
        var = keras.Variable(np.full((4,), 0.5, "float32"))
        for scale in (3.0, 0.01, 0.01, 0.01):
            optimizer.apply([tf.constant([1.0, -2.0, 0.5, 3.0]) * scale], [var])
        return var.numpy()

    settings = dict(learning_rate=0.1, beta_2=0.5)
    fused = run(objectives.FusedAdam(amsgrad=True, **settings))
    keras_amsgrad = run(keras.optimizers.Adam(amsgrad=True, **settings))
    without_amsgrad = run(keras.optimizers.Adam(**settings))
    np.testing.assert_array_equal(fused, keras_amsgrad)
    assert np.abs(without_amsgrad - keras_amsgrad).min() > 1e-2
