"""The authors' variable names <-> our Keras layers' weights, for G and D of both networks.

Their networks are lists of layer tuples built by `bgan/utils/neuralnet.py`: layer `i` of a
net lives in the variable scope `<G|D>/main/Layer_<i>/`, with `dense/`, `conv2d/` or
`transconv2d/` holding `kernel` and `bias`, and `batch_norm/` holding `gamma`, `beta`,
`moving_mean` and `moving_variance`. Reshape and pooling layers have no variables but keep
their index. Names here are relative to the model's root scope (`BinaryGAN/` or `GAN/`), as
`runtime.model_variables` dumps them; the slope variable (`BinaryGAN/Variable`, outside G's
scope) is `slope`.

Layouts need no transposition: `tf.layers.dense` stores [in, out] like `keras.layers.Dense`,
`conv2d` [kh, kw, in, out] like `Conv2D`, and `conv2d_transpose` [kh, kw, out, in] like
`Conv2DTranspose`.

| net | their layer (preset index) | ours (networks.py) |
| --- | --- | --- |
| G mlp | Layer_0 dense, batch_norm; Layer_1 dense, batch_norm; Layer_2 reshape | dense_1, bn_1; dense_2, bn_2; to_image |
| G cnn | Layer_0 reshape; Layer_1..4 transconv2d, batch_norm | reshape_z; transconv_1..4, bn_1..4 |
| D mlp(_bn) | Layer_0 reshape; Layer_1, Layer_2 dense [, batch_norm]; Layer_3 dense | flatten; dense_1 [bn_1], dense_2 [bn_2]; logits |
| D cnn(_bn) | Layer_0 conv2d [, batch_norm]; Layer_1 maxpool; Layer_2 conv2d [, batch_norm]; Layer_3 maxpool; Layer_4 reshape; Layer_5 dense [, batch_norm]; Layer_6 dense | conv_1 [bn_1]; pool_1; conv_2 [bn_2]; pool_2; flatten; dense_3 [bn_3]; logits |
"""

import numpy as np

from binarygan_tf.errors import UserError
from binarygan_tf.model import networks

_CORE_WEIGHTS = ("kernel", "bias")
_BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")

# (their layer scope under <net>/main/, their layer type, our layer name)
_GENERATOR = {
    "mlp": (
        ("Layer_0", "dense", "dense_1"),
        ("Layer_0", "batch_norm", "bn_1"),
        ("Layer_1", "dense", "dense_2"),
        ("Layer_1", "batch_norm", "bn_2"),
    ),
    "cnn": tuple(
        entry
        for i in range(1, 5)
        for entry in (
            (f"Layer_{i}", "transconv2d", f"transconv_{i}"),
            (f"Layer_{i}", "batch_norm", f"bn_{i}"),
        )
    ),
}
_DISCRIMINATOR_CORES = {
    "mlp": (
        ("Layer_1", "dense", "dense_1", "bn_1"),
        ("Layer_2", "dense", "dense_2", "bn_2"),
        ("Layer_3", "dense", "logits", None),
    ),
    "cnn": (
        ("Layer_0", "conv2d", "conv_1", "bn_1"),
        ("Layer_2", "conv2d", "conv_2", "bn_2"),
        ("Layer_5", "dense", "dense_3", "bn_3"),
        ("Layer_6", "dense", "logits", None),
    ),
}


def _entries(net, arch, batch_norm):
    if net == "G":
        layers = _GENERATOR[arch]
    else:
        layers = []
        for scope, kind, core, bn in _DISCRIMINATOR_CORES[arch]:
            layers.append((scope, kind, core))
            if batch_norm and bn:
                layers.append((scope, "batch_norm", bn))
    for scope, kind, ours in layers:
        for weight in _BN_WEIGHTS if kind == "batch_norm" else _CORE_WEIGHTS:
            yield f"{net}/main/{scope}/{kind}/{weight}", ours, weight


def name_map(net, arch, batch_norm=False):
    """{their name: (our layer, weight attribute)} for `net` 'G' or 'D'."""
    if net not in ("G", "D") or arch not in _GENERATOR:
        raise ValueError(f"no variable map for net {net!r}, arch {arch!r}")
    return {theirs: (layer, weight) for theirs, layer, weight in _entries(net, arch, batch_norm)}


def _keras_weights(model):
    """Every weight of `model` that training or inference reads, by (layer, attribute), except
    the output neuron's slope (handled by name `slope`)."""
    out = {}
    for layer in model.layers:
        for attr in _CORE_WEIGHTS + _BN_WEIGHTS:
            var = getattr(layer, attr, None)
            if var is not None and hasattr(var, "assign"):
                out[(layer.name, attr)] = var
    return out


def load(model, arrays, net, arch, batch_norm=False):
    """Assign their variables `arrays` ({their name: array}) to our `model` (G or D built by
    networks.py); raises UserError if a name is missing, a shape differs, or one of our
    weights would be left unassigned. Returns the number of values assigned."""
    mapping = name_map(net, arch, batch_norm)
    ours = _keras_weights(model)
    unassigned = set(ours) - set(mapping.values())
    if unassigned:
        raise UserError(
            f"variable map: our {model.name} has weights with no counterpart in "
            f"their {net}: {sorted(unassigned)}"
        )
    missing = [name for name in mapping if name not in arrays]
    if missing:
        raise UserError(
            f"variable map: their {net} has no {', '.join(missing[:4])}; was it "
            f"built from the {arch} presets?"
        )
    extra = sorted(k for k in arrays if k.startswith(f"{net}/") and k not in mapping)
    if extra:
        raise UserError(
            f"variable map: their {net} has variables with no counterpart in ours: {extra[:4]}"
        )
    count = 0
    for theirs, key in mapping.items():
        var, value = ours[key], np.asarray(arrays[theirs])
        if tuple(var.shape) != value.shape:
            raise UserError(
                f"variable map: {theirs} has shape {value.shape}, our "
                f"{key[0]}.{key[1]} {tuple(var.shape)}"
            )
        var.assign(value)
        count += value.size
    if net == "G" and "slope" in arrays:
        networks.output_neuron(model).slope.assign(float(arrays["slope"]))
    return count


def dump(model, net, arch, batch_norm=False):
    """Our `model`'s weights under their names ({their name: array}), the inverse of `load`."""
    ours = _keras_weights(model)
    return {
        theirs: np.asarray(ours[key].numpy())
        for theirs, key in name_map(net, arch, batch_norm).items()
    }


# Optimizer state. TF1 keeps a slot per trainable variable, named
# `Optimizer/<scope>/<variable>/<slot>` in their graph (models.py builds both optimizers under
# `tf.variable_scope('Optimizer')`): tf.train.AdamOptimizer's `Adam` (first moment m) and
# `Adam_1` (second moment v), tf.train.RMSPropOptimizer's `RMSProp` (mean square ms) and
# `RMSProp_1` (momentum; unused at momentum 0, which config.py sets). Keras keeps them in
# lists indexed like the optimizer's variables: Adam `_momentums` (m) and `_velocities` (v),
# RMSprop `_velocities` (ms). Adam's bias correction reads TF1's `beta1_power`/`beta2_power`
# (beta^(t+1) after t updates) where Keras reads `iterations` (t): the same numbers.
OPTIMIZER_SLOTS = {
    "adam": (("Adam", "_momentums"), ("Adam_1", "_velocities")),
    "rmsprop": (("RMSProp", "_velocities"),),
}


def _slot_entries(optimizer, model, net, arch, batch_norm, scope, kind):
    ours = _keras_weights(model)
    for theirs, key in name_map(net, arch, batch_norm).items():
        var = ours[key]
        if not var.trainable:
            continue
        index = optimizer._get_variable_index(var)
        for slot, attr in OPTIMIZER_SLOTS[kind]:
            yield f"Optimizer/{scope}/{theirs}/{slot}", getattr(optimizer, attr)[index]


def load_optimizer(optimizer, model, state, net, arch, batch_norm, scope, kind, iterations):
    """Set our `optimizer` (of `model`) to their slots in `state` and to `iterations` updates."""
    for name, slot in _slot_entries(optimizer, model, net, arch, batch_norm, scope, kind):
        slot.assign(state[name])
    optimizer.iterations.assign(iterations)


def dump_optimizer(optimizer, model, net, arch, batch_norm, scope, kind):
    """Our `optimizer`'s slots under their names ({their slot name: array})."""
    return {
        name: np.asarray(slot.numpy())
        for name, slot in _slot_entries(optimizer, model, net, arch, batch_norm, scope, kind)
    }
