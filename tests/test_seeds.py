"""One root seed, independent streams: no two random sources of a run share state."""

import itertools

import numpy as np
import pytest

from binarygan_tf.model import seeds


def test_streams_are_distinct_fixed_and_in_range():
    for root in (0, 1, 2, 12345):
        values = [seeds.derive(root, s) for s in seeds.STREAMS]
        assert len(set(values)) == len(values)
        assert all(0 <= v < 2**31 - 2 for v in values)
        assert values == [seeds.derive(root, s) for s in seeds.STREAMS]
    # Another root gives other seeds for every stream.
    assert not set(seeds.derive(0, s) for s in seeds.STREAMS) & set(
        seeds.derive(1, s) for s in seeds.STREAMS
    )


def test_children_of_a_stream_are_distinct_from_each_other_and_from_other_streams():
    layer_seeds = [
        seeds.derive(0, s, i)
        for s in ("generator_init", "discriminator_init")
        for i in range(1, 20)
    ]
    parents = [seeds.derive(0, s) for s in seeds.STREAMS]
    assert len(set(layer_seeds + parents)) == len(layer_seeds) + len(parents)


def test_unseeded_stays_unseeded_and_unknown_stream_is_refused():
    assert seeds.derive(None, "latent") is None
    with pytest.raises(ValueError, match="unknown random stream"):
        seeds.derive(0, "latnet")


def _seed_generator_keys(trainer):
    from binarygan_tf.model.networks import output_neuron

    states = {
        "latent": trainer.latent_seed.state,
        "interpolation": trainer.interpolation_seed.state,
        "sbn_noise": output_neuron(trainer.generator).seed_generator.state,
    }
    return {name: int(np.asarray(state.numpy())[0]) for name, state in states.items()}


def _initializer_seeds(model):
    return [
        layer.kernel_initializer.seed
        for layer in model.layers
        if hasattr(layer, "kernel_initializer")
    ]


def test_a_built_trainer_has_no_two_random_sources_with_the_same_key():
    from binarygan_tf.training import train_lib

    config = train_lib.TrainConfig(neuron="sbn", objective="wgan-gp", seed=0)
    trainer = train_lib.build_trainer(config)
    keys = _seed_generator_keys(trainer)
    init = _initializer_seeds(trainer.generator) + _initializer_seeds(trainer.discriminator)
    everything = (
        list(keys.values()) + init + [seeds.derive(0, "data_order"), seeds.derive(0, "sample_z")]
    )
    assert len(set(everything)) == len(everything), everything
    assert keys == {name: seeds.derive(0, name) for name in keys}


def test_latent_and_sbn_noise_draws_are_not_the_same_bits():
    """The bug this module fixes: with one shared seed, the k-th z and the k-th SBN noise came
    from the same Philox key and counter. Now their uniforms are uncorrelated."""
    import keras

    from binarygan_tf.model import random_draws

    latent = keras.random.SeedGenerator(seeds.derive(0, "latent"))
    noise = keras.random.SeedGenerator(seeds.derive(0, "sbn_noise"))
    for _ in range(3):
        a = random_draws.uniform((4096,), latent).numpy()
        b = random_draws.uniform((4096,), noise).numpy()
        assert abs(np.corrcoef(a, b)[0, 1]) < 0.06
        assert not np.array_equal(a, b)


def test_numpy_streams_differ():
    draws = {
        s: seeds.rng(0, s).random(8) for s in ("sample_z", "evaluation_z", "evaluation_binarize")
    }
    for a, b in itertools.combinations(draws.values(), 2):
        assert not np.allclose(a, b)
