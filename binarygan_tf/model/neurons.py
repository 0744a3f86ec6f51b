"""Binary neurons trained by the sigmoid-adjusted straight-through estimator.

Dong & Yang (2018), Sec. 2.2-2.3: a binary neuron first computes the "preactivated output"
`p = sigmoid(slope * x)` and then binarizes it, either by a hard threshold at 0.5 (the
deterministic binary neuron, DBN, eq. 6) or by comparing it with uniform noise (the
stochastic binary neuron, SBN, eq. 7). Binarization has zero gradient almost everywhere, so
the backward pass treats it as the identity (straight-through); the sigmoid in front of it
keeps its true derivative, which gives `d out / d x = slope * p * (1 - p)` (the
"sigmoid-adjusted" estimator of Bengio et al. 2013 and the R2RT post the paper cites). This
mirrors the authors' `bgan/utils/ops.py`, where `tf.round` / `tf.ceil(p - u)` get an
`Identity` gradient and the sigmoid is left alone (`pass_through=False`).

API: every output neuron layer returns the pair `(output, preactivated)`. The paper plots the
preactivated output next to the binary samples (Figs. 3, 4), the exported generator serves
both, and a pair keeps one code path for the binary and the real-valued model.

Only the threshold step carries a custom gradient; the sigmoid is ordinary autodiff. So the
custom gradient never reads a variable (TF forbids that inside `tf.custom_gradient` in graph
mode), and XLA sees plain ops.
"""

import keras
import tensorflow as tf

from binarygan_tf.model import random_draws


@tf.custom_gradient
def straight_through_threshold(p, threshold):
    """1.0 where `p > threshold`, else 0.0; gradient passes to `p` unchanged.

    The threshold (0.5 for a DBN, uniform noise for an SBN) gets no gradient: in the authors'
    code the noise's branch of the subtraction is overridden to zeros (`BernoulliSample_ST`).
    """
    binary = tf.cast(p > threshold, p.dtype)

    def grad(upstream):
        return upstream, tf.zeros_like(threshold)

    return binary, grad


class OutputNeuron(keras.layers.Layer):
    """Base of the generator's output neurons: owns the annealed sigmoid slope.

    The layer runs in float32 whatever the global dtype policy (so that binarization of a
    float16 logit cannot flip at 0.5 through rounding, and the outputs are exactly 0.0/1.0).
    `use_slope=False` reproduces the authors' code, whose generator never receives the slope
    variable (`End2EndGenerator` builds `NeuralNet` without `slope_tensor`, so
    `binary_stochastic_ST` falls back to `tf.constant(1.0)`): the variable still exists and
    is annealed, but the neuron ignores it.
    """

    def __init__(self, use_slope=True, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.use_slope = use_slope
        # The slope starts at 1.0 and is annealed (paper Sec. 4.2; the slides: 'start from 1.0';
        # code models.py `tf.Variable(1.0)`).
        self.slope = self.add_weight(
            name="slope", shape=(), initializer="ones", trainable=False, dtype="float32"
        )

    def preactivate(self, logits):
        logits = tf.cast(logits, tf.float32)
        if self.use_slope:
            logits = tf.convert_to_tensor(self.slope) * logits
        return tf.sigmoid(logits)

    # Whether `redraw` gives new values (the trainer then prefetches them in its loop).
    redraws = False

    def redraw(self, samples, preactivated):
        """A fresh output for the same preactivated values, without gradient.

        The trainer computes G(z) once per generator step and lets every critic update reuse
        it (G and z do not change during the critic loop). Deterministic neurons would give
        the same samples again; the SBN overrides this to draw new noise, as each
        `sess.run(d_step)` in the authors' code does.
        """
        return samples

    def compute_output_shape(self, input_shape):
        return input_shape, input_shape

    def get_config(self):
        return {**super().get_config(), "use_slope": self.use_slope}


class DeterministicBinaryNeuron(OutputNeuron):
    """DBN (paper eq. 6): 1 where `sigmoid(slope * x) > 0.5`, else 0.

    The authors use `tf.round(p)`, which rounds 0.5 to even (0), so `p == 0.5` gives 0 in
    both.
    """

    def call(self, logits):
        p = self.preactivate(logits)
        return straight_through_threshold(p, tf.constant(0.5, tf.float32)), p


class StochasticBinaryNeuron(OutputNeuron):
    """SBN (paper eq. 7): 1 where `sigmoid(slope * x) > v`, `v ~ U[0, 1)` per element per call.

    The noise comes from a Keras `SeedGenerator`, so a seed makes a run reproducible and the
    generator's state can be checkpointed with the model (the authors' `ceil(p - u)` is the
    same event: `p - u > 0`).
    """

    def __init__(self, seed=None, use_slope=True, **kwargs):
        super().__init__(use_slope=use_slope, **kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, logits):
        p = self.preactivate(logits)
        return self._sample(p), p

    def _sample(self, p):
        noise = random_draws.uniform(tf.shape(p), self.seed_generator)
        return straight_through_threshold(p, noise)

    redraws = True

    def redraw(self, samples, preactivated):
        return tf.stop_gradient(self._sample(preactivated))

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class SigmoidNeuron(OutputNeuron):
    """The paper's real-valued baseline (Sec. 4.4): a plain sigmoid, no binarization.

    Returns the sigmoid twice, as output and as preactivated output, so the generator has one
    interface for every `--neuron`. The slope is kept for a uniform API; the authors' real
    model uses `tf.nn.sigmoid` with no slope, so it is not applied here.
    """

    def __init__(self, **kwargs):
        kwargs["use_slope"] = False
        super().__init__(**kwargs)

    def call(self, logits):
        p = self.preactivate(logits)
        return p, p

    def get_config(self):
        config = super().get_config()
        config.pop("use_slope")
        return config


def make_output_neuron(kind, seed=None, use_slope=True, name="output_neuron"):
    """The output neuron for `--neuron` in {dbn, sbn, real}."""
    if kind == "dbn":
        return DeterministicBinaryNeuron(use_slope=use_slope, name=name)
    if kind == "sbn":
        return StochasticBinaryNeuron(seed=seed, use_slope=use_slope, name=name)
    if kind == "real":
        return SigmoidNeuron(name=name)
    raise ValueError(f"unknown neuron {kind!r}; expected dbn, sbn or real")
