"""Networks: the authors' parameter counts, output shapes, initializers, BN modes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from binarygan_tf.model import networks


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


@pytest.mark.parametrize("arch,expected", [("mlp", 939_312), ("cnn", 216_227)])
@pytest.mark.parametrize("neuron", ["dbn", "sbn", "real"])
def test_generator_parameter_count_equals_authors(arch, expected, neuron):
    assert _trainable(networks.build_generator(arch, neuron)) == expected


@pytest.mark.parametrize("arch,expected", [("mlp", 533_505), ("cnn", 313_985)])
def test_discriminator_parameter_count_equals_authors(arch, expected):
    assert _trainable(networks.build_discriminator(arch)) == expected


@pytest.mark.parametrize("arch,extra", [("mlp", 2 * (512 + 256)), ("cnn", 2 * (32 + 64 + 128))])
def test_bn_discriminator_adds_gamma_beta_per_hidden_unit(arch, extra):
    plain = _trainable(networks.build_discriminator(arch))
    assert _trainable(networks.build_discriminator(arch, batch_norm=True)) == plain + extra


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("neuron", ["dbn", "sbn", "real"])
def test_output_shapes_and_ranges(arch, neuron):
    g = networks.build_generator(arch, neuron, seed=0)
    d = networks.build_discriminator(arch, seed=0)
    z = tf.random.normal((5, networks.LATENT_DIM), seed=1)
    out = g(z, training=True)
    assert out["samples"].shape == (5, 28, 28, 1)
    assert out["preactivated"].shape == (5, 28, 28, 1)
    p = out["preactivated"].numpy()
    assert p.min() > 0 and p.max() < 1
    if neuron == "real":
        np.testing.assert_array_equal(out["samples"].numpy(), p)
    else:
        assert set(np.unique(out["samples"].numpy())) == {0.0, 1.0}
    assert d(out["samples"]).shape == (5, 1)


def test_cnn_generator_spatial_sizes_follow_the_paper():
    g = networks.build_generator("cnn", "dbn")
    sizes = [g.get_layer(f"transconv_{i}").output.shape[1] for i in range(1, 5)]
    assert sizes == [2, 6, 13, 28]
    d = networks.build_discriminator("cnn")
    assert d.get_layer("flatten").output.shape[1] == 6 * 6 * 64


# ---------------------------------------------------------------- other image sizes
def test_the_mlp_takes_any_image_size():
    """Only the output layer (H * W units and their batch norm) and the critic's input layer
    (H * W inputs) change with the size; 28 x 28 is the paper's MLP, weight for weight."""
    g = networks.build_generator("mlp", "dbn", seed=0, image_shape=(16, 20, 1))
    d = networks.build_discriminator("mlp", seed=0, image_shape=(16, 20))
    pixels = 16 * 20
    assert _trainable(g) == 939_312 - (1024 + 1 + 2) * 784 + (1024 + 1 + 2) * pixels
    assert _trainable(d) == 533_505 - 784 * 512 + pixels * 512
    out = g(tf.random.normal((3, networks.LATENT_DIM), seed=1))
    assert out["samples"].shape == out["preactivated"].shape == (3, 16, 20, 1)
    assert d(out["samples"]).shape == (3, 1)
    mnist = networks.build_generator("mlp", "dbn", seed=0, image_shape=(28, 28, 1))
    default = networks.build_generator("mlp", "dbn", seed=0)
    for a, b in zip(mnist.get_weights(), default.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("build", [networks.build_generator, networks.build_discriminator])
def test_the_paper_cnn_refuses_other_sizes_in_one_line(build):
    with pytest.raises(
        ValueError, match=r"^the paper's CNN is built for 28x28 .* are 16x20: use --arch=mlp"
    ) as info:
        build("cnn", image_shape=(16, 20, 1))
    assert "\n" not in str(info.value)
    assert networks.check_image_shape("cnn", (28, 28)) == (28, 28, 1)
    with pytest.raises(ValueError, match="image shape"):
        networks.check_image_shape("mlp", (16, 20, 3))


def test_kernels_truncated_normal_002_and_zero_biases():
    g = networks.build_generator("mlp", "dbn", seed=3)
    kernel = g.get_layer("dense_1").kernel.numpy()
    assert kernel.std() == pytest.approx(0.02 * 0.8796, rel=0.03)  # truncated at 2 sd
    assert np.abs(kernel).max() <= 0.04 + 1e-6
    assert not g.get_layer("dense_1").bias.numpy().any()


def test_seed_fixes_initial_weights():
    a = networks.build_generator("mlp", "dbn", seed=5).get_weights()
    b = networks.build_generator("mlp", "dbn", seed=5).get_weights()
    c = networks.build_generator("mlp", "dbn", seed=6).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_code_mode_batch_norm_is_a_fixed_affine():
    """Authors' code: inference-mode BN with moving stats 0/1, even when training."""
    g = networks.build_generator("mlp", "dbn", follow="code", seed=0)
    bn = g.get_layer("bn_1")
    bn.gamma.assign(np.full(1024, 2.0, np.float32))
    bn.beta.assign(np.full(1024, 0.5, np.float32))
    x = tf.random.normal((16, 1024), seed=2) * 5 + 3
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y, 2.0 * x.numpy() / np.sqrt(1 + 1e-3) + 0.5, rtol=1e-5, atol=1e-5)
    assert not bn.moving_mean.numpy().any()  # never updated
    np.testing.assert_array_equal(bn.moving_variance.numpy(), 1.0)


def test_paper_mode_batch_norm_normalizes_the_batch():
    g = networks.build_generator("mlp", "dbn", follow="paper", seed=0)
    bn = g.get_layer("bn_1")
    x = tf.random.normal((64, 1024), seed=2) * 5 + 3
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=0), 1.0, atol=0.01)


def test_code_mode_neuron_ignores_slope():
    assert networks.output_neuron(networks.build_generator("mlp", "dbn", "code")).use_slope is False
    assert networks.output_neuron(networks.build_generator("mlp", "dbn", "paper")).use_slope is True


def test_weight_clip_constraint_clips():
    d = networks.build_discriminator("mlp", weight_clip=0.01)
    layer = d.get_layer("dense_1")
    clipped = layer.kernel_constraint(tf.constant([-1.0, -0.005, 0.3]))
    np.testing.assert_allclose(clipped.numpy(), [-0.01, -0.005, 0.01])
    # Every variable of D is clipped, biases included (code: models.py clips all of D's
    # variables), to the same value.
    for layer in d.layers:
        for name in ("kernel_constraint", "bias_constraint"):
            constraint = getattr(layer, name, None)
            if hasattr(layer, name):
                assert constraint is not None, (layer.name, name)
                np.testing.assert_allclose(
                    constraint(tf.constant([-0.5, 0.007, 0.5])).numpy(), [-0.01, 0.007, 0.01]
                )


# ---------------------------------------------------------------- mask-only piecewise-linear layers
def _grads(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(
            y * tf.reshape(tf.range(tf.size(y), dtype=tf.float32) % 7 - 3.0, tf.shape(y))
        )
    return y, tape.gradient(loss, x)


@pytest.mark.parametrize("shape,padding", [((2, 26, 26, 3), "valid"), ((2, 11, 11, 3), "same")])
def test_mask_only_layers_compute_what_keras_layers_compute(shape, padding):
    from binarygan_tf.model import piecewise_linear

    x = tf.constant(np.random.default_rng(0).standard_normal(shape), tf.float32)
    x = tf.where(tf.abs(x) < 0.1, 0.0, x)  # exact zeros: where the two slopes meet
    pairs = [
        (piecewise_linear.LeakyReLU(0.2), keras.layers.LeakyReLU(negative_slope=0.2)),
        (
            piecewise_linear.MaxPooling2D(2, 2, padding=padding),
            keras.layers.MaxPooling2D(2, 2, padding=padding),
        ),
    ]
    for ours, reference in pairs:
        y, g = _grads(ours, x)
        y_ref, g_ref = _grads(reference, x)
        assert y.shape == y_ref.shape == ours.compute_output_shape(shape)
        np.testing.assert_array_equal(y.numpy(), y_ref.numpy())
        np.testing.assert_array_equal(g.numpy(), g_ref.numpy())
    upper = piecewise_linear.MaxPooling2D(2, 2, padding=padding.upper())
    assert upper.compute_output_shape(shape) == pairs[1][0].compute_output_shape(shape)
    with pytest.raises(ValueError, match="padding"):
        piecewise_linear.MaxPooling2D(2, 2, padding="full")


def _features_source(layer):
    """The op whose output LeakyReluGrad reads as its mask, looking through identities."""
    x = tf.constant(np.random.default_rng(2).standard_normal((2, 8, 8, 1)), tf.float32)
    kernel = tf.Variable(np.random.default_rng(3).standard_normal((3, 3, 1, 4)), dtype=tf.float32)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            y = layer(tf.nn.conv2d(x, kernel, 1, "VALID"))
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, kernel)

    graph = step.get_concrete_function().graph
    (grad_op,) = [op for op in graph.get_operations() if op.type == "LeakyReluGrad"]
    t = grad_op.inputs[1]
    while t.op.type in ("StopGradient", "Identity", "IdentityN"):
        t = t.op.inputs[t.value_index]
    return t.op.type


def test_leaky_relu_backward_reads_its_output_so_the_preactivation_can_fuse():
    """Grappler fuses conv/matmul + bias + LeakyRelu into one oneDNN kernel only when the
    pre-activation has no other consumer; Keras' layer feeds it to the backward pass too."""
    from binarygan_tf.model import piecewise_linear

    assert _features_source(piecewise_linear.LeakyReLU(0.2)) == "LeakyRelu"
    assert _features_source(keras.layers.LeakyReLU(negative_slope=0.2)) == "Conv2D"
    with pytest.raises(ValueError, match="negative_slope"):
        piecewise_linear.LeakyReLU(-0.2)  # y > 0 would no longer mark x > 0


def _penalty_weight_gradient(discriminator):
    x_hat = tf.constant(np.random.default_rng(1).random((4, 28, 28, 1)), tf.float32)

    @tf.function
    def step():
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x_hat)
                logits = discriminator(x_hat, training=True)
            grad = inner.gradient(logits, x_hat)
            penalty = tf.reduce_mean(tf.square(tf.norm(tf.reshape(grad, (4, -1)), axis=1) - 1))
        return outer.gradient(penalty, discriminator.trainable_variables)

    # Count what the result depends on: the traced graph also holds dead ops (the first-order
    # tape emits filter gradients nobody asked for) that TensorFlow prunes before running.
    graph = step.get_concrete_function().graph
    live, stack = set(), [t.op for t in graph.outputs]
    while stack:
        op = stack.pop()
        if op.name not in live:
            live.add(op.name)
            stack += [t.op for t in op.inputs] + list(op.control_inputs)
    filter_grads = sum(
        op.type == "Conv2DBackpropFilter" and op.name in live for op in graph.get_operations()
    )
    # Biases do not move grad_x D, so their penalty gradients are None (for both critics).
    return [0.0 if g is None else g.numpy() for g in step()], filter_grads


def test_gradient_penalty_is_unchanged_and_skips_the_zero_backward_pass(monkeypatch):
    from binarygan_tf.model import piecewise_linear

    ours = networks.build_discriminator("cnn", seed=3)
    grads, filter_grads = _penalty_weight_gradient(ours)
    # The same critic with Keras' own layers, same weights.
    monkeypatch.setattr(piecewise_linear, "LeakyReLU", keras.layers.LeakyReLU)
    monkeypatch.setattr(piecewise_linear, "MaxPooling2D", keras.layers.MaxPooling2D)
    reference = networks.build_discriminator("cnn", seed=3)
    reference.set_weights(ours.get_weights())
    ref_grads, ref_filter_grads = _penalty_weight_gradient(reference)
    for g, r in zip(grads, ref_grads, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-7)
    # The penalty's weight gradient needs one filter gradient per convolution (through the
    # first backward pass); Keras' layers add one more per convolution, backpropagating the
    # zero second-order term through the forward pass.
    assert filter_grads == 2
    assert ref_filter_grads == 4


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_mixed_precision_pooling_is_differentiated_twice_under_xla(dtype):
    """Issue #25's finding: WGAN-GP differentiates the critic's pooling twice, and XLA has
    MaxPoolGradGrad (the second derivative through the upstream gradient) for float32 only,
    so the CNN's mixed-precision step did not compile. The pooling's backward pass now runs
    in float32 for half-width dtypes; this checks that it compiles under XLA and computes
    what Keras' own layer computes without XLA."""
    from binarygan_tf.model import piecewise_linear

    dt = tf.as_dtype(dtype)
    x = tf.constant(np.random.default_rng(0).standard_normal((2, 8, 8, 3)), dt)
    # v plays the critic's weights after the pooling: the upstream gradient depends on it,
    # as it does in the critic, so the penalty's gradient runs through MaxPoolGrad's dy.
    v = tf.Variable(tf.cast(np.random.default_rng(1).standard_normal(3), dt))

    def penalty_gradient(layer):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = layer(x)
                weights = tf.reshape(tf.cast(tf.range(tf.size(y)) % 5, dt), tf.shape(y))
                loss = tf.reduce_sum(y * v * weights)
            g = inner.gradient(loss, x)
            penalty = tf.reduce_sum(g * g)
        return g, outer.gradient(penalty, v)

    ours = piecewise_linear.MaxPooling2D(2, 2, dtype=dtype)
    reference = keras.layers.MaxPooling2D(2, 2, dtype=dtype)
    g_ref, gv_ref = penalty_gradient(reference)  # eager: the CPU kernels take half widths
    g, gv = tf.function(lambda: penalty_gradient(ours), jit_compile=True)()
    assert g.dtype == gv.dtype == dt
    # The first backward pass routes each upstream gradient (v_c times a small integer) to
    # one input (2x2 windows, stride 2, no overlap): one rounding, the same on both sides.
    np.testing.assert_array_equal(g.numpy(), g_ref.numpy())
    # d penalty / d v_c = 2 v_c * (a sum of 32 non-negative squares per channel): a sum of n
    # non-negative terms carries at most (n - 1) roundings of relative size eps whatever the
    # order or width XLA accumulates in; the multiplies add three more.
    eps = float(tf.experimental.numpy.finfo(dt).eps)
    np.testing.assert_allclose(
        gv.numpy().astype(np.float64), gv_ref.numpy().astype(np.float64), rtol=(32 + 3) * eps
    )
    assert np.all(np.abs(gv_ref.numpy().astype(np.float64)) > 0)
