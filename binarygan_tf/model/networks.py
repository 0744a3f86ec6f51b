"""The paper's generators and discriminators, layer for layer as the authors' presets.

Sources: paper Tables 1-4 (MLP Sec. 4.2, CNN Sec. 4.6) and the authors' presets in salu133445/binarygan
`bgan/mnist/presets/{generator,discriminator}/*.py`, built by `bgan/utils/neuralnet.py`:
- every dense/conv kernel: `tf.truncated_normal_initializer(stddev=0.02)`, bias zeros
  (the `tf.layers` default; a bias is kept even before batch norm, as there);
- batch normalization: `tf.layers.batch_normalization` defaults, momentum 0.99, epsilon 1e-3
  (the same as Keras' defaults);
- LeakyReLU: `tf.nn.leaky_relu` default alpha 0.2;
- z: 128-dim (`NET_G['z_dim'] = 128`), drawn from N(0, 1) (`np.random.normal`).

Trainable parameter counts (equal to the authors' graphs): MLP G 939,312, MLP D 533,505,
CNN G 216,227, CNN D 313,985. The paper's text swaps the totals (see docs/authors_code.md).

The generator is a functional model with two named outputs, `samples` (binary, or the
sigmoid for the real-valued model) and `preactivated` (the sigmoid before binarization).

Image size: the paper's networks draw MNIST's 28 x 28. The MLP takes any H x W (its output
layer has H * W units, its critic's input is H * W pixels; every other layer is the paper's),
so it trains on other binary data (docs/datasets.md). The CNN's transposed convolutions grow
1 -> 2 -> 6 -> 13 -> 28 and its critic's pooling shrinks 28 to 6, so it is kept exact at
28 x 28 and other sizes are refused (`check_image_shape`).
"""

import keras

from binarygan_tf.model import piecewise_linear, seeds
from binarygan_tf.model.contract import IMAGE_SHAPE, LATENT_DIM, normalize_image_shape
from binarygan_tf.model.defaults import DEFAULT_FOLLOW
from binarygan_tf.model.neurons import make_output_neuron

KERNEL_STDDEV = 0.02  # code: neuralnet.py truncated_normal_initializer(stddev=0.02)
LEAKY_RELU_SLOPE = 0.2  # code: tf.nn.leaky_relu default alpha


class FrozenStatisticsBatchNorm(keras.layers.BatchNormalization):
    """Batch normalization as the authors' code actually runs it: always in inference mode.

    Their `tf.layers.batch_normalization(x)` is never given `training=True`, so it normalizes
    with the moving mean 0 and variance 1 it was initialized with, and never updates them:
    the layer is the learned per-feature affine `gamma * x / sqrt(1 + eps) + beta`. Keeping it
    a BatchNormalization (same variables, same parameter count) lets one flag switch between
    the paper's batch norm and this without touching checkpoints' layout.
    """

    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=False, mask=mask)


def _kernel_init(seed):
    return keras.initializers.TruncatedNormal(stddev=KERNEL_STDDEV, seed=seed)


class _Builder:
    """Hands out layers with the authors' initializers and per-layer seeds.

    Each layer gets its own child seed of the network's stream (seeds.py) so that one seed
    fixes all the initial weights without any two layers starting from the same draw.
    """

    def __init__(self, seed, stream, follow, constraint=None):
        self._seed = seed
        self._stream = stream
        self._count = 0
        self._follow = follow
        self._constraint = constraint

    def _next_seed(self):
        self._count += 1
        return seeds.derive(self._seed, self._stream, self._count)

    def _core_kwargs(self):
        return dict(
            kernel_initializer=_kernel_init(self._next_seed()),
            kernel_constraint=self._constraint,
            bias_constraint=self._constraint,
        )

    def dense(self, units, name):
        return keras.layers.Dense(units, name=name, **self._core_kwargs())

    def conv(self, filters, kernel, name):
        return keras.layers.Conv2D(
            filters, kernel, padding="valid", name=name, **self._core_kwargs()
        )

    def transconv(self, filters, kernel, strides, name):
        return keras.layers.Conv2DTranspose(
            filters, kernel, strides=strides, padding="valid", name=name, **self._core_kwargs()
        )

    def norm(self, name):
        layer_cls = (
            keras.layers.BatchNormalization
            if self._follow == "paper"
            else FrozenStatisticsBatchNorm
        )
        # Momentum and epsilon: tf.layers.batch_normalization defaults (0.99, 1e-3).
        return layer_cls(
            momentum=0.99,
            epsilon=1e-3,
            name=name,
            gamma_constraint=self._constraint,
            beta_constraint=self._constraint,
        )


def check_image_shape(arch, image_shape):
    """`image_shape` as (H, W, 1) if `arch` can draw it; else ValueError saying why, in one
    line: the CNN is the paper's, for 28 x 28 only (module doc)."""
    if arch not in ("mlp", "cnn"):
        raise ValueError(f"unknown arch {arch!r}; expected mlp or cnn")
    shape = normalize_image_shape(image_shape)
    if arch == "cnn" and shape != IMAGE_SHAPE:
        raise ValueError(
            f"the paper's CNN is built for 28x28 images (its transposed convolutions grow "
            f"1 -> 2 -> 6 -> 13 -> 28) and these are {shape[0]}x{shape[1]}: use --arch=mlp, "
            f"which takes any size."
        )
    return shape


def build_generator(
    arch="mlp",
    neuron="dbn",
    follow=DEFAULT_FOLLOW,
    seed=None,
    name="generator",
    image_shape=IMAGE_SHAPE,
):
    """G(z) -> {"samples", "preactivated"}, each [N, *image_shape].

    `follow`: 'code' (the authors' code as it ran: inference-mode batch norm, the neuron
    ignores the slope) or 'paper' (the paper's text); training.config.TrainConfig.follow explains.
    `image_shape`: (H, W, 1), MNIST's by default; the CNN takes 28 x 28 only (module doc).
    """
    image_shape = check_image_shape(arch, image_shape)
    height, width, _ = image_shape
    build = _Builder(seed, "generator_init", follow)
    z = keras.Input((LATENT_DIM,), name="z")
    if arch == "mlp":
        # code: presets/generator/mlp_{round,bernoulli,real}.py
        h = build.dense(1024, "dense_1")(z)
        h = keras.layers.ReLU(name="relu_1")(build.norm("bn_1")(h))
        h = build.dense(height * width, "dense_2")(h)  # code: 784 = 28 x 28 output pixels
        h = build.norm("bn_2")(h)
    elif arch == "cnn":
        # code: presets/generator/cnn_{round,bernoulli,real}.py; 'valid' padding everywhere,
        # spatial sizes 1 -> 2 -> 6 -> 13 -> 28.
        h = keras.layers.Reshape((1, 1, LATENT_DIM), name="reshape_z")(z)
        for i, (filters, kernel, stride) in enumerate(
            [(128, 2, 1), (64, 4, 2), (32, 3, 2)], start=1
        ):
            h = build.transconv(filters, kernel, stride, f"transconv_{i}")(h)
            h = keras.layers.ReLU(name=f"relu_{i}")(build.norm(f"bn_{i}")(h))
        h = build.transconv(1, 4, 2, "transconv_4")(h)
        h = build.norm("bn_4")(h)
    neuron_layer = make_output_neuron(
        neuron, seed=seeds.derive(seed, "sbn_noise"), use_slope=(follow == "paper")
    )
    samples, preactivated = neuron_layer(h)
    to_image = keras.layers.Reshape(image_shape, name="to_image", dtype="float32")
    to_image_p = keras.layers.Reshape(image_shape, name="to_image_p", dtype="float32")
    return keras.Model(
        z, {"samples": to_image(samples), "preactivated": to_image_p(preactivated)}, name=name
    )


def output_neuron(generator):
    """The generator's output neuron layer (it owns the annealed slope)."""
    return generator.get_layer("output_neuron")


def build_discriminator(
    arch="mlp",
    batch_norm=False,
    follow=DEFAULT_FOLLOW,
    weight_clip=None,
    seed=None,
    name="discriminator",
    image_shape=IMAGE_SHAPE,
):
    """D(x) -> one logit per image x [N, *image_shape].

    `batch_norm`: the `*_bn` presets, used with the GAN objective (paper Sec. 4.5).
    `weight_clip`: WGAN's clipping to [-c, c], as a Keras constraint so the optimizer applies
    it after every critic update (code: models.py clips all D variables after each `d_step`).
    """
    image_shape = check_image_shape(arch, image_shape)
    constraint = None if weight_clip is None else ClipWeights(weight_clip)
    build = _Builder(seed, "discriminator_init", follow, constraint)

    def hidden(core_layer, h, i):
        # core -> [BN] -> LeakyReLU, as neuralnet.py `Layer.build` orders them. The critic's
        # LeakyReLU and max pooling compute what Keras' layers do, with a mask-only backward
        # pass, so the gradient penalty's double backward skips work that only adds zeros
        # (piecewise_linear.py).
        h = core_layer(h)
        if batch_norm:
            h = build.norm(f"bn_{i}")(h)
        return piecewise_linear.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name=f"lrelu_{i}")(h)

    x = keras.Input(image_shape, name="x")
    if arch == "mlp":
        # code: presets/discriminator/mlp.py and mlp_bn.py
        h = keras.layers.Flatten(name="flatten")(x)
        h = hidden(build.dense(512, "dense_1"), h, 1)
        h = hidden(build.dense(256, "dense_2"), h, 2)
    elif arch == "cnn":
        # code: presets/discriminator/cnn.py and cnn_bn.py; 28 -> 26 -> 13 -> 11 -> 6
        h = hidden(build.conv(32, 3, "conv_1"), x, 1)
        h = piecewise_linear.MaxPooling2D(2, 2, padding="valid", name="pool_1")(h)
        h = hidden(build.conv(64, 3, "conv_2"), h, 2)
        h = piecewise_linear.MaxPooling2D(2, 2, padding="same", name="pool_2")(h)
        h = keras.layers.Flatten(name="flatten")(h)
        h = hidden(build.dense(128, "dense_3"), h, 3)
    logits = build.dense(1, "logits")(h)
    # The last layer stays float32 under mixed precision (Keras mixed-precision guide).
    logits = keras.layers.Activation("linear", dtype="float32", name="logits_f32")(logits)
    return keras.Model(x, logits, name=name)


class ClipWeights(keras.constraints.Constraint):
    """WGAN weight clipping to [-c, c] (Arjovsky et al. 2017; code config.py clip_value=0.01)."""

    def __init__(self, clip_value):
        self.clip_value = clip_value

    def __call__(self, w):
        return keras.ops.clip(w, -self.clip_value, self.clip_value)

    def get_config(self):
        return {"clip_value": self.clip_value}
