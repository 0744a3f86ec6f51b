"""Export a generator as a self-contained TF SavedModel: the contract evaluate.py relies on.

Contract of `RUN_DIR/generator/` (loadable by `tf.saved_model.load`, no project code needed;
docs/export.md shows how to load and sample). [H, W, 1] is the generator's image shape,
MNIST's [28, 28, 1] unless it was trained on other data (docs/datasets.md):
- signature `serving_default`: input `z` float32 [N, 128] ~ N(0, 1); outputs `samples`
  float32 [N, H, W, 1] (exactly 0/1 for dbn/sbn, the sigmoid for real) and `preactivated`
  float32 [N, H, W, 1] in (0, 1); batch norm in inference mode. An SBN draws its noise from
  the generator's own `SeedGenerator` state, so each call gives new samples.
- signature `sample_with_noise`: inputs `z` as above and `noise` float32 [N, H, W, 1] in
  [0, 1); the same outputs, an SBN's samples being `preactivated > noise` (paper eq. 7). It
  lets any RNG drive the SBN, and converts to TFLite with builtin ops only (docs/export.md).
- signature `sample_seeded`: inputs `z` as above and `seed` int64 []; `sample_with_noise`
  with `noise = tf.random.stateless_uniform([N, H, W, 1], seed=[seed, 0], alg="philox")`,
  so one seed always gives the same samples and the call changes no state.
  DBN and real generators ignore `noise` and `seed`: both signatures equal `serving_default`.
- `binarygan.json` beside `saved_model.pb` records what the model is (neuron, arch,
  objective, step, slope, the data it was trained on) and, always, its `image_shape`
  [H, W, 1], which `contract.image_shape` reads (an export without it is 28 x 28).
- the variables: each generator weight (with the slope, even where unused, and the SBN's
  seed state) is stored once, under `variables`, and `tf.saved_model.load(path).variables`
  lists them.

`keras.export.ExportArchive` is used instead of `tf.saved_model.save` because the latter
refuses a model holding a `SeedGenerator` (the SBN's noise) as an untracked resource. The
archive's `track(model)` would store every weight twice (keras-team/keras#23553: once as the
Keras variable under `variables/`, once as the `tf.Variable` inside it that the endpoints
capture, under `_all_variables/`), so the archive is handed the `tf.Variable`s themselves as
its variable collections: the same objects the endpoints capture, which the SavedModel writes
once. The archive is written to a temporary sibling folder and renamed into place, so a crash
never leaves a half-written SavedModel where a finished one is expected.

A leaf: it knows nothing of runs or configs. Exporting a run from a checkpoint is
`train_lib.export_run` (`binarygan export --run_dir RUN_DIR`).
"""

import os

import keras
import tensorflow as tf

from binarygan_tf import files
from binarygan_tf.model import networks
from binarygan_tf.model.contract import (
    IMAGE_SHAPE_KEY,
    LATENT_DIM,
    METADATA_FILE,
    NOISE_SIGNATURE,
    SEEDED_SIGNATURE,
    SERVING_SIGNATURE,
)
from binarygan_tf.model.neurons import StochasticBinaryNeuron, straight_through_threshold

NOISE_ALGORITHM = "philox"  # as random_draws.py: the same stream with and without XLA
Z_SPEC = tf.TensorSpec([None, LATENT_DIM], tf.float32, name="z")
SEED_SPEC = tf.TensorSpec([], tf.int64, name="seed")


def image_shape(generator):
    """(H, W, 1) of the images the Keras `generator` draws."""
    return tuple(int(side) for side in generator.output["samples"].shape[1:])


def export_generator(generator, path, metadata=None):
    """Write `generator` to `path` atomically (replacing an older export there), with
    `metadata` and the generator's image shape in binarygan.json."""
    path = os.path.abspath(path)
    shape = image_shape(generator)
    noise_spec = tf.TensorSpec([None, *shape], tf.float32, name="noise")
    with files.atomic_directory(path) as tmp:
        archive = keras.export.ExportArchive()
        for collection in ("variables", "trainable_variables", "non_trainable_variables"):
            archive.add_variable_collection(
                collection, _tf_variables(getattr(generator, collection))
            )
        archive.add_endpoint(SERVING_SIGNATURE, _outputs_fn(generator), input_signature=[Z_SPEC])
        with_noise = _noise_outputs_fn(generator)
        archive.add_endpoint(NOISE_SIGNATURE, with_noise, input_signature=[Z_SPEC, noise_spec])
        archive.add_endpoint(
            SEEDED_SIGNATURE,
            _seeded_outputs_fn(generator, with_noise),
            input_signature=[Z_SPEC, SEED_SPEC],
        )
        archive.write_out(tmp, verbose=False)
        files.atomic_write_json(
            os.path.join(tmp, METADATA_FILE), {**(metadata or {}), IMAGE_SHAPE_KEY: list(shape)}
        )
    return path


def _tf_variables(keras_variables):
    """The `tf.Variable` inside each Keras variable: what the endpoints capture (see module doc)."""
    variables = [v.value for v in keras_variables]
    assert all(isinstance(v, tf.Variable) for v in variables), "not on the TensorFlow backend"
    return variables


def _contract(samples, preactivated):
    return {
        "samples": tf.cast(samples, tf.float32),
        "preactivated": tf.cast(preactivated, tf.float32),
    }


def _outputs_fn(generator):
    def serve(z):
        out = generator(z, training=False)
        return _contract(out["samples"], out["preactivated"])

    return serve


def _noise_outputs_fn(generator):
    """`sample_with_noise(z, noise)`: an SBN's samples are `preactivated > noise` (paper eq. 7,
    through the neuron's own threshold op); other neurons ignore `noise`.

    The SBN branch runs the network only up to the output neuron's input and applies the
    neuron's sigmoid itself, so its `SeedGenerator` is neither drawn from nor advanced. The
    threshold of given noise is all builtin TFLite ops (docs/export.md), unlike any TF RNG.
    """
    neuron = networks.output_neuron(generator)
    if not isinstance(neuron, StochasticBinaryNeuron):
        serve = _outputs_fn(generator)
        return lambda z, noise: serve(z)
    to_logits = keras.Model(generator.inputs, neuron.input, name="generator_logits")
    shape = image_shape(generator)

    def serve_with_noise(z, noise):
        p = tf.reshape(neuron.preactivate(to_logits(z, training=False)), [-1, *shape])
        return _contract(straight_through_threshold(p, tf.cast(noise, p.dtype)), p)

    return serve_with_noise


def _seeded_outputs_fn(generator, with_noise):
    """`sample_seeded(z, seed)`: `sample_with_noise` with noise U[0, 1) drawn statelessly from
    the key [seed, 0], so a seed fixes an SBN's samples and the call has no state to advance."""
    if not isinstance(networks.output_neuron(generator), StochasticBinaryNeuron):
        serve = _outputs_fn(generator)
        return lambda z, seed: serve(z)
    image = image_shape(generator)

    def serve_seeded(z, seed):
        shape = tf.concat([tf.shape(z)[:1], image], axis=0)
        noise = tf.random.stateless_uniform(
            shape, seed=tf.stack([seed, tf.zeros_like(seed)]), dtype=tf.float32, alg=NOISE_ALGORITHM
        )
        return with_noise(z, noise)

    return serve_seeded
