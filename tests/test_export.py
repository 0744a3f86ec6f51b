"""export.py: each weight stored once, the three signatures, and what TFLite makes of them."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from binarygan_tf.model import contract, export, networks

# Trainable weights (the authors' counts, networks.py) + batch norm moving statistics + slope.
PARAMETERS = {"mlp": 939_312 + 2 * (1024 + 784) + 1, "cnn": 216_227 + 2 * (128 + 64 + 32 + 1) + 1}


def _z(n, seed=0):
    return tf.constant(np.random.default_rng(seed).standard_normal((n, 128)), tf.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{(arch, neuron): (keras generator, export path)}, each exported once for the module."""
    root = tmp_path_factory.mktemp("export")
    out = {}
    for arch, neuron in [("mlp", "dbn"), ("mlp", "sbn"), ("cnn", "dbn"), ("cnn", "sbn")]:
        generator = networks.build_generator(arch, neuron, "paper", seed=0)
        path = export.export_generator(
            generator,
            str(root / f"{arch}_{neuron}" / "generator"),
            metadata={"arch": arch, "neuron": neuron},
        )
        out[arch, neuron] = generator, path
    return out


def _stored(path):
    """{dtype: number of values} and the names of the tensors in the SavedModel's checkpoint."""
    prefix = os.path.join(path, "variables", "variables")
    dtypes = tf.train.load_checkpoint(prefix).get_variable_to_dtype_map()
    counts, names = {}, []
    for name, shape in tf.train.list_variables(prefix):
        if name == "_CHECKPOINTABLE_OBJECT_GRAPH":
            continue
        names.append(name)
        dtype = dtypes[name].name
        counts[dtype] = counts.get(dtype, 0) + int(np.prod(shape, dtype=np.int64))
    return counts, names


# ---------------------------------------------------------------- each weight once
@pytest.mark.parametrize(
    "arch,neuron", [("mlp", "dbn"), ("mlp", "sbn"), ("cnn", "dbn"), ("cnn", "sbn")]
)
def test_each_weight_is_stored_once(exported, arch, neuron):
    generator, path = exported[arch, neuron]
    assert generator.count_params() == PARAMETERS[arch]
    counts, names = _stored(path)
    assert counts.pop("float32") == PARAMETERS[arch]
    # the SBN's SeedGenerator state (2 int64) is the only other tensor
    assert counts == ({"int64": 2} if neuron == "sbn" else {})
    assert all(name.startswith("variables/") for name in names), names
    data_file = os.path.join(path, "variables", "variables.data-00000-of-00001")
    assert os.path.getsize(data_file) < 4 * PARAMETERS[arch] * 1.01


def test_loaded_variables_are_the_generators_weights(exported):
    generator, path = exported["mlp", "sbn"]
    loaded = {v.name: v.numpy() for v in tf.saved_model.load(path).variables}
    expected = {v.path + ":0": np.asarray(v.numpy()) for v in generator.variables}
    assert sorted(loaded) == sorted(expected)
    assert "output_neuron/slope:0" in loaded
    for name, value in expected.items():
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)


# ---------------------------------------------------------------- the contract
def test_signatures_inputs_outputs_and_metadata(exported):
    _, path = exported["mlp", "sbn"]
    signatures = tf.saved_model.load(path).signatures
    assert sorted(signatures) == ["sample_seeded", "sample_with_noise", "serving_default"]
    expected_inputs = {
        "serving_default": {"z": ([None, 128], tf.float32)},
        "sample_with_noise": {
            "z": ([None, 128], tf.float32),
            "noise": ([None, 28, 28, 1], tf.float32),
        },
        "sample_seeded": {"z": ([None, 128], tf.float32), "seed": ([], tf.int64)},
    }
    for name, inputs in expected_inputs.items():
        _, specs = signatures[name].structured_input_signature
        assert {k: (s.shape.as_list(), s.dtype) for k, s in specs.items()} == inputs
        outputs = signatures[name].structured_outputs
        assert {k: (s.shape.as_list(), s.dtype) for k, s in outputs.items()} == {
            "samples": ([None, 28, 28, 1], tf.float32),
            "preactivated": ([None, 28, 28, 1], tf.float32),
        }
    with open(os.path.join(path, export.METADATA_FILE)) as f:
        assert json.load(f) == {"arch": "mlp", "neuron": "sbn", "image_shape": [28, 28, 1]}


def test_a_generator_of_other_images_exports_its_shape(tmp_path):
    """An MLP of 16x20 images: every signature speaks 16x20, binarygan.json records it, and
    contract.image_shape reads it back (an export without the record is MNIST's)."""
    generator = networks.build_generator("mlp", "sbn", "code", seed=0, image_shape=(16, 20))
    path = export.export_generator(generator, str(tmp_path / "g"), metadata={"neuron": "sbn"})
    loaded = tf.saved_model.load(path)
    z = _z(3)
    noise = tf.constant(np.random.default_rng(0).random((3, 16, 20, 1)), tf.float32)
    for name, args in [
        ("serving_default", {}),
        ("sample_seeded", {"seed": _seed(1)}),
        ("sample_with_noise", {"noise": noise}),
    ]:
        out = loaded.signatures[name](z=z, **args)
        assert out["samples"].shape == out["preactivated"].shape == (3, 16, 20, 1), name
    with open(os.path.join(path, export.METADATA_FILE)) as f:
        metadata = json.load(f)
    assert metadata == {"neuron": "sbn", "image_shape": [16, 20, 1]}
    assert contract.image_shape(metadata) == (16, 20, 1)
    assert contract.image_shape({"neuron": "dbn"}) == contract.IMAGE_SHAPE == (28, 28, 1)
    for bad in ([16, 20, 3], [0, 20, 1], "16x20", [16.5, 20, 1]):
        with pytest.raises(ValueError, match="image shape"):
            contract.image_shape({"image_shape": bad})


# ---------------------------------------------------------------- seeded sampling
def _seed(value):
    return tf.constant(value, tf.int64)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_sbn_seeded_samples_are_fixed_by_the_seed(exported, arch):
    _, path = exported[arch, "sbn"]
    loaded = tf.saved_model.load(path)
    seeded, serve = loaded.signatures["sample_seeded"], loaded.signatures["serving_default"]
    state = next(v for v in loaded.variables if "seed_generator_state" in v.name)
    state_before = state.numpy().copy()
    z = _z(64)
    first, again, other = (seeded(z=z, seed=_seed(s)) for s in (7, 7, 8))
    np.testing.assert_array_equal(first["samples"], again["samples"])
    differ = np.mean(first["samples"].numpy() != other["samples"].numpy())
    p = first["preactivated"].numpy()
    # P(two draws differ) = 2 p (1 - p) per pixel
    assert differ == pytest.approx(np.mean(2 * p * (1 - p)), abs=0.01) and differ > 0.05
    # exactly the documented rule: samples = p > stateless_uniform(seed=[seed, 0], philox)
    noise = tf.random.stateless_uniform([64, 28, 28, 1], seed=[7, 0], alg="philox").numpy()
    np.testing.assert_array_equal(first["samples"], (p > noise).astype(np.float32))
    # the seeded calls used up no state (serving_default does), and compute its p
    np.testing.assert_array_equal(state.numpy(), state_before)
    np.testing.assert_allclose(p, serve(z=z)["preactivated"], atol=1e-6)
    assert not np.array_equal(state.numpy(), state_before)


def test_sbn_with_noise_thresholds_the_given_noise(exported):
    _, path = exported["mlp", "sbn"]
    with_noise = tf.saved_model.load(path).signatures["sample_with_noise"]
    z = _z(16)
    noise = np.random.default_rng(1).random((16, 28, 28, 1)).astype(np.float32)
    out = with_noise(z=z, noise=tf.constant(noise))
    p = out["preactivated"].numpy()
    np.testing.assert_array_equal(out["samples"], (p > noise).astype(np.float32))
    assert np.isin(out["samples"].numpy(), [0.0, 1.0]).all()
    ones = with_noise(z=z, noise=tf.zeros([16, 28, 28, 1]))["samples"].numpy()
    assert ones.mean() == 1.0


def test_dbn_ignores_seed_and_noise(exported):
    _, path = exported["mlp", "dbn"]
    signatures = tf.saved_model.load(path).signatures
    z = _z(32)
    reference = signatures["serving_default"](z=z)
    outputs = [signatures["sample_seeded"](z=z, seed=_seed(s)) for s in (0, 1)]
    outputs.append(signatures["sample_with_noise"](z=z, noise=tf.zeros([32, 28, 28, 1])))
    for out in outputs:
        for key in ("samples", "preactivated"):
            np.testing.assert_array_equal(out[key], reference[key])
    assert 0.2 < reference["samples"].numpy().mean() < 0.8  # an untrained net: not all 0 or 1


# ---------------------------------------------------------------- TFLite
def _tflite():
    lite = getattr(tf, "lite", None)
    if lite is None or not hasattr(lite, "TFLiteConverter") or not hasattr(lite, "Interpreter"):
        pytest.skip("tf.lite is not available in this TensorFlow")
    return lite


def _convert(path, signature):
    """TFLite flatbuffer of one signature, builtin ops only (the converter's default)."""
    return _tflite().TFLiteConverter.from_saved_model(path, signature_keys=[signature]).convert()


def _run_tflite(model, signature, **inputs):
    runner = _tflite().Interpreter(model_content=model).get_signature_runner(signature)
    return runner(**inputs)


# tf.lite.Interpreter warns that it moves to the ai_edge_litert package; it still works.
_LITERT_MOVE = pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")


@_LITERT_MOVE
def test_dbn_converts_to_tflite_builtins_with_the_savedmodels_outputs(exported):
    _, path = exported["mlp", "dbn"]
    z = _z(16, seed=3).numpy()
    lite = _run_tflite(_convert(path, "serving_default"), "serving_default", z=z)
    saved = tf.saved_model.load(path).signatures["serving_default"](z=tf.constant(z))
    p = saved["preactivated"].numpy()
    np.testing.assert_allclose(lite["preactivated"], p, atol=1e-5)
    decided = np.abs(p - 0.5) > 1e-4  # float reordering may only flip a pixel on the fence
    assert decided.mean() > 0.99
    np.testing.assert_array_equal(lite["samples"][decided], saved["samples"].numpy()[decided])


@_LITERT_MOVE
def test_sbn_converts_to_tflite_builtins_only_with_noise_as_input(exported):
    _, path = exported["mlp", "sbn"]
    z = _z(8, seed=4).numpy()
    noise = np.random.default_rng(2).random((8, 28, 28, 1)).astype(np.float32)
    lite = _run_tflite(_convert(path, "sample_with_noise"), "sample_with_noise", z=z, noise=noise)
    np.testing.assert_array_equal(
        lite["samples"], (lite["preactivated"] > noise).astype(np.float32)
    )
    saved = tf.saved_model.load(path).signatures["sample_with_noise"](
        z=tf.constant(z), noise=tf.constant(noise)
    )
    np.testing.assert_allclose(lite["preactivated"], saved["preactivated"], atol=1e-5)
    # any TF random op needs the Flex delegate (docs/export.md)
    for signature in ("serving_default", "sample_seeded"):
        with pytest.raises(Exception, match="StatelessRandomUniformV2"):
            _convert(path, signature)
