"""LeakyReLU and max pooling whose gradient is a stop-gradient mask, for the critic.

WGAN-GP differentiates the critic twice: the penalty is built from grad_x D(x_hat), and its
gradient with respect to D's weights runs back through that first backward pass. The first
backward pass of a piecewise-linear layer uses the forward tensors only to pick a mask (where
x > 0; which input was the max), so its derivative with respect to them is zero. TensorFlow's
registered second-order gradients (`LeakyReluGrad`, `MaxPoolGrad`) return that zero as a
`zeros_like` tensor, and the tape then backpropagates the zeros through the whole forward pass
of D(x_hat): one more full set of convolution backward passes per critic update, all of them
adding zero. Measured in the CNN profile, that was 1 of every 4 filter-gradient convolutions of
a critic update (docs/performance.md, "Where the time goes").

These layers compute exactly what `keras.layers.LeakyReLU` and `keras.layers.MaxPooling2D` do,
forward and backward (the same TensorFlow kernels), but route the forward tensors into the
backward pass through `tf.stop_gradient`, so the zero second-order term is never propagated.
The result is identical; only the wasted work is gone (tests/test_networks.py).

The LeakyReLU's backward pass reads its mask off the output rather than the input (the same
mask for a positive slope), so the pre-activation feeds nothing but the LeakyReLU and
Grappler can fold the activation into the oneDNN convolution or matmul before it.
"""

import keras
import tensorflow as tf
from tensorflow.python.ops import gen_nn_ops


def _leaky_relu(x, alpha):
    @tf.custom_gradient
    def forward(x):
        y = tf.nn.leaky_relu(x, alpha=alpha)

        def backward(dy):
            # The mask is read off the output: for alpha > 0, y > 0 exactly where x > 0. Then
            # the pre-activation has one consumer, so Grappler can fuse it into the preceding
            # convolution or matmul (oneDNN `_FusedConv2D` with a LeakyRelu epilogue).
            return gen_nn_ops.leaky_relu_grad(dy, tf.stop_gradient(y), alpha=alpha)

        return y, backward

    return forward(x)


# WGAN-GP's penalty differentiates this backward pass once more, through dy: the op is
# MaxPoolGradGrad, and XLA registers it for float32 only, not for these half-width dtypes
# (XLA_CPU_JIT and XLA_GPU_JIT alike; found by tests/test_gpu_ready.py, issue #25). Under
# mixed precision the pooling runs in one of them, so its backward pass is computed in float32
# instead. Any other dtype keeps the step as it was, not even a no-op cast added.
_HALF_WIDTH_DTYPES = (tf.float16, tf.bfloat16)


def _max_pool(x, size, strides, padding):
    ksize, stride = [1, size, size, 1], [1, strides, strides, 1]

    @tf.custom_gradient
    def forward(x):
        y = tf.nn.max_pool2d(x, ksize, stride, padding)

        def backward(dy):
            if dy.dtype in _HALF_WIDTH_DTYPES:
                # Mixed precision: see _HALF_WIDTH_DTYPES. Widening is exact and the argmax
                # compares the same values; with windows that do not overlap (the paper's
                # 2x2, stride 2) each input receives one dy or none, so narrowing back is
                # exact too. Overlapping windows sum in float32, rounded once at the end.
                def widen(t):
                    return tf.cast(t, tf.float32)

                dx = gen_nn_ops.max_pool_grad(
                    widen(tf.stop_gradient(x)),
                    widen(tf.stop_gradient(y)),
                    widen(dy),
                    ksize,
                    stride,
                    padding,
                )
                return tf.cast(dx, dy.dtype)
            return gen_nn_ops.max_pool_grad(
                tf.stop_gradient(x), tf.stop_gradient(y), dy, ksize, stride, padding
            )

        return y, backward

    return forward(x)


class LeakyReLU(keras.layers.Layer):
    """`keras.layers.LeakyReLU` with a mask-only backward pass (see the module docstring)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        if negative_slope < 0:  # the backward pass reads the mask off the output's sign
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope}")
        self.negative_slope = float(negative_slope)

    def call(self, x):
        return _leaky_relu(x, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class MaxPooling2D(keras.layers.Layer):
    """`keras.layers.MaxPooling2D` (channels last, square window) with a mask-only backward
    pass (see the module docstring)."""

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)
        self.strides = int(strides or pool_size)
        self.padding = padding.lower()  # Keras accepts either case
        if self.padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")

    def call(self, x):
        return _max_pool(x, self.pool_size, self.strides, self.padding.upper())

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape

        def out(d):
            if d is None:
                return None
            if self.padding == "same":
                return -(-d // self.strides)
            return (d - self.pool_size) // self.strides + 1

        return (n, out(h), out(w), c)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
        }
