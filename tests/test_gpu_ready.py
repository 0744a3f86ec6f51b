"""Ready for a GPU, checked without one (issue #25 point 3): what can be proven on a CPU-only
machine about the compiled training step running on a GPU.

1. Placement. The step `fit()` compiles (Keras' `multi_step_on_iterator` around
   `one_step_on_data(train_step)`, with and without `jit_compile`) is traced, and every op of
   its graph and of every function it calls (the critic's while-loop body and condition, the
   step itself, cond branches) is read: none may carry an explicit device. An empty device
   lets the placer put the op on a visible GPU; a `tf.device('/CPU:0')` in the model code
   would pin it to the host and show up here (`test_walker_finds_an_op_pinned_to_the_cpu`).
2. Kernels. Every op of the non-XLA step has a GPU kernel for its dtypes: a `KernelDef` of
   device type GPU (or DEFAULT, which TensorFlow falls back to on a GPU, op_kernel.cc
   `FindKernelRegistration`) whose type constraints hold for the node's dtype attributes, as
   TensorFlow's own kernel lookup matches them. That covers the int64 generator-step counter
   (its reads and assignments, the critic schedule's int64 arithmetic) and the ops the seed
   generators drive (the int64 SeedGenerator state, the Philox key derivation
   `StatelessRandomUniformFullIntV2`, `StatelessRandomNormalV2` / `StatelessRandomUniformV2`).
   Integer shape and loop-counter inputs live in host memory by the kernels' own HostMemory
   declarations; that is TensorFlow's design, not a pin. No op needs an exception today
   (`HOST_BY_DESIGN` is empty). With XLA, every op of the compiled function needs an
   XLA_GPU_JIT kernel instead, and the step is lowered to HLO on XLA:CPU
   (`experimental_get_compiler_ir`), which proves it compiles for XLA:CPU only. These tests
   found that the CNN's WGAN-GP step did not compile under XLA in mixed precision (no
   MaxPoolGradGrad for half widths); fixed in piecewise_linear, covered here since.
3. Mixed precision. Under `--mixed_precision=mixed_float16` / `mixed_bfloat16` (the policy
   set around `build_trainer` as `train_lib` does), a couple of compiled `fit()` steps (no XLA)
   on tiny binary data: the logits reach the neuron in the policy's compute dtype and the
   samples are exactly 0/1 (float32, the neuron's dtype by design), straight-through
   gradients through the DBN/SBN finite and
   non-zero for every G variable, Keras' LossScaleOptimizer for float16 (both losses scaled in
   the step, the update unscaled, no step skipped), float32 variables, finite losses, and the
   annealed slope reaching the neuron.

What only a GPU shows (bench/gpu_check.py): that the kernels run and are fast, cuDNN/cuBLAS
choices, memory, and XLA:GPU's own compilation. The kernel registry is read from the wheel:
the standard TensorFlow wheel registers its GPU kernels even where no GPU or driver exists;
where a wheel has none, the kernel tests skip and say so.
"""

import collections
import functools
import gc
import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.python.eager import context
from tensorflow.python.framework import kernels, op_def_registry

from binarygan_tf.model import networks, objectives
from binarygan_tf.training import callbacks, train_lib

ARCHS = ("mlp", "cnn")
OBJECTIVES = ("gan", "wgan", "wgan-gp")
NEURONS = ("dbn", "sbn")
PRECISIONS = ("off", "mixed_float16", "mixed_bfloat16")
BATCH = 4
IMAGE = (28, 28, 1)  # the CNN takes MNIST's size only; tracing costs the same at any batch

# Op types allowed to have no GPU kernel for their dtypes because TensorFlow runs them on the
# host by design, each with its reason. Empty: every op of the step has a GPU kernel today.
HOST_BY_DESIGN = {}

slow = pytest.mark.slow
# The whole matrix (every arch, objective, neuron, precision, XLA on and off: about 30 min on 2
# cores) is not part of the README's test command, which keeps a representative quick set (one
# neuron per objective and network, float32, the MLP's XLA step, float16 on the MLP); run it
# with `python -m pytest -q -m gpu_matrix tests/test_gpu_ready.py`, e.g. before a release or
# after a change to the step, the networks or the precision handling.
GPU_MATRIX = pytest.mark.gpu_matrix


@pytest.fixture(autouse=True)
def restore_policy():
    """No other test sees a mixed-precision global policy, whatever happens here."""
    saved = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(saved)


# ------------------------------------------------------------------ building and tracing
def _config(arch, neuron, objective, precision="off", jit=False, follow="code"):
    return train_lib.TrainConfig(
        arch=arch,
        neuron=neuron,
        objective=objective,
        mixed_precision=precision,
        jit_compile=jit,
        follow=follow,
        seed=0,
        batch_size=BATCH,
        critic_steps=1,
        critic_warmup_steps=1,
        critic_warmup_until=1,
        critic_warmup_every=1000,
        steps_per_execution=1,  # the tests' fit() calls count single steps
    )


def _build(config):
    """The trainer as run_training builds it: the dtype policy set around build_trainer only
    (the layers keep it), then back to float32."""
    keras.utils.set_random_seed(config.seed)
    train_lib._set_precision(config.mixed_precision)
    try:
        return train_lib.build_trainer(config)
    finally:
        train_lib._set_precision("off")


def _fit_functions(trainer):
    """The tf.functions fit() calls: Keras' `multi_step_on_iterator` (one call per
    `steps_per_execution` steps) and the `one_step_on_data` it calls (jit_compile=XLA)."""
    trainer.make_train_function()
    found = inspect.getclosurevars(trainer.train_function).nonlocals
    assert {"multi_step_on_iterator", "one_step_on_data"} <= set(found), (
        f"Keras {keras.__version__} builds its train function differently: {sorted(found)}"
    )
    return found["multi_step_on_iterator"], found["one_step_on_data"].__wrapped__


def _batches(n=2, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.uniform(size=(n * BATCH, *IMAGE)) < 0.2).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices(x).batch(BATCH, drop_remainder=True)


Traced = collections.namedtuple("Traced", "graph_def xla_function hlo_error")


@functools.cache
def _traced(arch, neuron, objective, precision, jit):
    """The step fit() compiles for this configuration, traced (not run): its GraphDef with
    the function library; with XLA, the name of the XLA-compiled function and whether the
    step lowers to HLO on XLA:CPU (None, or the error). Cached: the placement and the kernel
    tests read the same trace; the trainer itself is let go (memory)."""
    trainer = _build(_config(arch, neuron, objective, precision, jit))
    multi_step, one_step = _fit_functions(trainer)
    graph_def = multi_step.get_concrete_function(iter(_batches())).graph.as_graph_def()
    xla_function, hlo_error = None, None
    if jit:
        compiled = [f.signature.name for f in graph_def.library.function if _xla_compiled(f)]
        assert len(compiled) == 1, f"expected one XLA-compiled step function, found {compiled}"
        xla_function = compiled[0]
        try:
            one_step.experimental_get_compiler_ir(tf.zeros((BATCH, *IMAGE)))(stage="hlo")
        except Exception as e:  # reported by the XLA test, with the configuration
            hlo_error = f"{type(e).__name__}: {e}"
    del trainer, multi_step, one_step
    gc.collect()
    return Traced(graph_def, xla_function, hlo_error)


# ------------------------------------------------------------------ reading a graph
def _xla_compiled(function_def):
    """Whether a function is compiled whole by XLA (tf.function(jit_compile=True))."""
    return "_XlaMustCompile" in function_def.attr and function_def.attr["_XlaMustCompile"].b


def _called_functions(node):
    """Names of the functions a node calls (call ops' `f`, While's `cond`/`body`, If's
    branches, any func or list(func) attribute)."""
    for value in node.attr.values():
        if value.HasField("func"):
            yield value.func.name
        for func in value.list.func:
            yield func.name


def walk(graph_def, root=None):
    """(function name, NodeDef) of every op of the graph (function name "") and of every
    function it calls, transitively; from the function `root` only, if given. A called
    function missing from the graph's library is read from the eager context; one missing
    there too fails the walk rather than skipping its ops."""
    library = {f.signature.name: f for f in graph_def.library.function}
    pending = [root] if root else []
    if root is None:
        for node in graph_def.node:
            yield "", node
            pending.extend(_called_functions(node))
    seen = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        fdef = library.get(name) or context.context().get_function_def(name)
        for node in fdef.node_def:
            yield name, node
            pending.extend(_called_functions(node))


def pinned(graph_def, marker="CPU"):
    """Ops whose explicit device names `marker` (any explicit device, with marker="")."""
    return sorted(
        (function or "<graph>", node.name, node.op, node.device)
        for function, node in walk(graph_def)
        if node.device and marker.upper() in node.device.upper()
    )


def _attr_types(node, name):
    """The dtypes a node's type (or list(type)) attribute holds, its OpDef default if the
    NodeDef omits it; None if it has neither."""
    value = node.attr.get(name)
    if value is None:
        op_def = op_def_registry.get(node.op)
        defaults = [a.default_value for a in op_def.attr if a.name == name] if op_def else []
        if not defaults or defaults[0].WhichOneof("value") is None:
            return None
        value = defaults[0]
    return [value.type] if value.HasField("type") else list(value.list.type)


def _node_dtypes(node):
    return {
        name: [types_pb2.DataType.Name(t) for t in _attr_types(node, name)]
        for name, value in sorted(node.attr.items())
        if value.HasField("type") or value.list.type
    }


def _kernel_matches(kernel_def, node):
    """As TensorFlow's KernelAttrsMatch: every type constraint of the KernelDef holds."""
    for constraint in kernel_def.constraint:
        types = _attr_types(node, constraint.name)
        allowed = set(constraint.allowed_values.list.type)
        if types is None or any(t not in allowed for t in types):
            return False
    return True


def has_kernel(node, device_type):
    """Whether TensorFlow finds a kernel of `device_type` for this node's op and dtypes (a
    GPU also takes DEFAULT kernels)."""
    device_types = {device_type, "DEFAULT"} if device_type == "GPU" else {device_type}
    return any(
        k.device_type in device_types and _kernel_matches(k, node)
        for k in kernels.get_registered_kernels_for_op(node.op).kernel
    )


def without_kernel(nodes, device_type):
    """{(op, its dtypes, where): count} of the nodes with no `device_type` kernel."""
    missing = collections.Counter()
    for function, node in nodes:
        if node.op in HOST_BY_DESIGN or has_kernel(node, device_type):
            continue
        missing[(node.op, str(_node_dtypes(node)), function or "<graph>")] += 1
    return dict(missing)


def _registered_device_types(op):
    return {k.device_type for k in kernels.get_registered_kernels_for_op(op).kernel}


def _require_gpu_kernels():
    if "GPU" not in _registered_device_types("MatMul"):
        pytest.skip(
            "this TensorFlow wheel registers no GPU kernels (MatMul has none), so which ops a "
            "GPU could run cannot be read here; the standard wheel has them"
        )


def _require_xla_gpu_kernels():
    # XLA registers its JIT kernels when the first function is compiled: compile one.
    tf.function(lambda x: x * 2.0, jit_compile=True).experimental_get_compiler_ir(tf.ones(()))(
        stage="hlo"
    )
    if "XLA_GPU_JIT" not in _registered_device_types("MatMul"):
        pytest.skip("this TensorFlow wheel registers no XLA_GPU_JIT kernels (MatMul has none)")


# ------------------------------------------------------------------ the checkers can fail
def test_walker_finds_an_op_pinned_to_the_cpu():
    """The placement check is not vacuous: an op pinned with tf.device('/CPU:0'), in the
    graph or deep in a while-loop body, is reported; the unpinned ops are not."""

    @tf.function
    def tiny(x):
        with tf.device("/CPU:0"):
            y = tf.sin(x)

        def body(i, v):
            with tf.device("/CPU:0"):
                v = v * v
            return i + 1, tf.cos(v)

        return tf.while_loop(lambda i, _: i < 3, body, (tf.constant(0), y))[1]

    graph_def = tiny.get_concrete_function(tf.TensorSpec((2,), tf.float32)).graph.as_graph_def()
    found = {(op, function.startswith("while_body")) for function, _, op, _ in pinned(graph_def)}
    assert found == {("Sin", False), ("Mul", True)}
    assert all("CPU:0" in device for *_, device in pinned(graph_def))


def test_kernel_check_finds_ops_without_a_gpu_kernel():
    """The kernel check is not vacuous: an op with no GPU kernel at all (AsString) and one
    whose GPU kernels exclude its dtype (an int32 MatMul) are reported, with that dtype; a
    float32 MatMul is not."""
    _require_gpu_kernels()

    @tf.function
    def tiny(x, n):
        return tf.matmul(x, x), tf.matmul(n, n), tf.strings.as_string(n)

    graph_def = tiny.get_concrete_function(
        tf.TensorSpec((2, 2), tf.float32), tf.TensorSpec((2, 2), tf.int32)
    ).graph.as_graph_def()
    missing = without_kernel(walk(graph_def), "GPU")
    assert {(op, dtypes) for op, dtypes, _ in missing} == {
        ("MatMul", str({"T": ["DT_INT32"]})),
        ("AsString", str({"T": ["DT_INT32"]})),
    }


def test_xla_kernel_check_finds_an_op_xla_cannot_compile():
    """Found as the step's XLA function is: by its _XlaMustCompile attribute, then walked."""
    _require_xla_gpu_kernels()
    compiled = tf.function(lambda n: (tf.strings.as_string(n), n + 1), jit_compile=True)
    outer = tf.function(lambda n: compiled(n))
    graph_def = outer.get_concrete_function(tf.TensorSpec((2,), tf.int32)).graph.as_graph_def()
    (root,) = [f.signature.name for f in graph_def.library.function if _xla_compiled(f)]
    missing = without_kernel(walk(graph_def, root=root), "XLA_GPU_JIT")
    # XLA has no strings: the op making one and the Identity passing it on; n + 1 compiles
    assert {(op, dtypes) for op, dtypes, _ in missing} == {
        ("AsString", str({"T": ["DT_INT32"]})),
        ("Identity", str({"T": ["DT_STRING"]})),
    }


# ------------------------------------------------------------------ 1. placement, 2. kernels
def _quick_unless(*params, quick):
    """pytest params, each marked slow unless `quick(*param)`."""

    def name(value):
        if isinstance(value, bool):  # the xla parameter
            return "xla" if value else "no-xla"
        return value

    def marks(p):
        return [] if quick(*p) else [slow, GPU_MATRIX]

    return [pytest.param(*p, marks=marks(p), id="-".join(map(name, p))) for p in params]


# A finding of these tests (issue #25), fixed: the CNN's WGAN-GP step did not compile under
# XLA in mixed precision, on any device. The penalty differentiates the critic twice; the
# second derivative of its max pooling is MaxPoolGradGrad, which XLA registers for float32
# only. piecewise_linear._max_pool now runs its backward pass in float32 for half widths
# (tests/test_networks.py::test_mixed_precision_pooling_is_differentiated_twice_under_xla);
# the XLA cases below cover that step in both mixed precisions.


STEP_CONFIGS = [
    (arch, objective, neuron, precision)
    for precision in PRECISIONS
    for arch in ARCHS
    for objective in OBJECTIVES
    for neuron in NEURONS
]


def _quick_step(arch, objective, neuron, precision, xla=False):
    # float32 is the default; the SBN's step holds the DBN's ops and its random ones; XLA is
    # the MLP's default (the CNN's XLA step is the slow suite's)
    return neuron == "sbn" and precision == "off" and (not xla or arch == "mlp")


@pytest.mark.parametrize(
    "arch, objective, neuron, precision, xla",
    _quick_unless(
        *[(*config, xla) for config in STEP_CONFIGS for xla in (False, True)], quick=_quick_step
    ),
)
def test_no_op_of_the_compiled_step_is_pinned_to_the_cpu(arch, objective, neuron, precision, xla):
    traced = _traced(arch, neuron, objective, precision, xla)
    nodes = list(walk(traced.graph_def))
    functions = {function for function, _ in nodes}
    # the walk reached the step, the critic loop's body and condition
    assert any(f.startswith("while_body") for f in functions), functions
    assert any(f.startswith("while_cond") for f in functions), functions
    assert any("one_step_on_data" in f for f in functions), functions
    assert pinned(traced.graph_def) == []
    # stronger, as the README says: the step pins nothing to any device
    assert pinned(traced.graph_def, marker="") == []


@pytest.mark.parametrize(
    "arch, objective, neuron, precision", _quick_unless(*STEP_CONFIGS, quick=_quick_step)
)
def test_every_op_of_the_step_has_a_gpu_kernel_for_its_dtypes(arch, objective, neuron, precision):
    _require_gpu_kernels()
    traced = _traced(arch, neuron, objective, precision, False)
    nodes = list(walk(traced.graph_def))
    assert without_kernel(nodes, "GPU") == {}
    # The int64 generator-step counter and the seed generators are in the step, in int64,
    # and were among the ops checked (so this is not passing on a graph without them).
    int64_ops = {
        node.op for _, node in nodes if "DT_INT64" in str(_node_dtypes(node).get("dtype", []))
    }
    assert {"ReadVariableOp", "AssignVariableOp"} <= int64_ops, int64_ops
    schedule = {node.op for f, node in nodes if f.startswith("while_cond")}
    assert {"FloorMod", "Less", "ReadVariableOp"} <= schedule  # n_critic from the int64 step
    random_ops = {node.op for _, node in nodes if node.op.startswith("StatelessRandom")}
    expected = {"StatelessRandomNormalV2", "StatelessRandomUniformFullIntV2"}  # z, Philox key
    if neuron == "sbn" or objective == "wgan-gp":
        expected.add("StatelessRandomUniformV2")  # the SBN's noise, WGAN-GP's interpolation
    assert expected <= random_ops, random_ops
    # the straight-through estimator's custom gradient (an IdentityN) is in the step
    assert any(
        "_gradient_op_type" in node.attr and "output_neuron" in node.name for _, node in nodes
    )


@pytest.mark.parametrize(
    "arch, objective, neuron, precision",
    _quick_unless(
        *STEP_CONFIGS,
        quick=functools.partial(_quick_step, xla=True),
    ),
)
def test_the_xla_step_lowers_and_every_op_has_an_xla_gpu_kernel(arch, objective, neuron, precision):
    """With --jit_compile every op of the compiled function (and of the functions it calls)
    has an XLA_GPU_JIT kernel for its dtypes; the ops fit() runs around it (the iterator)
    have GPU kernels; and the step lowers to HLO on XLA:CPU (a proof for XLA:CPU only)."""
    _require_gpu_kernels()
    _require_xla_gpu_kernels()
    traced = _traced(arch, neuron, objective, precision, True)
    inside = list(walk(traced.graph_def, root=traced.xla_function))
    assert len(inside) > 100 and any(node.op == "While" for _, node in inside)
    assert without_kernel(inside, "XLA_GPU_JIT") == {}
    assert traced.hlo_error is None, traced.hlo_error[:2000]
    compiled = {(f, node.name) for f, node in inside}
    outside = [(f, n) for f, n in walk(traced.graph_def) if (f, n.name) not in compiled]
    assert without_kernel(outside, "GPU") == {}


# ------------------------------------------------------------------ 3. mixed precision
def test_loss_scale_optimizer_unscales_before_the_update():
    """Each objective's optimizer under mixed_float16 is Keras' LossScaleOptimizer around
    the same optimizer, and applying the gradients of the scaled loss moves the variables
    exactly as the plain optimizer moves them with the true gradients (TF1 RMSProp's slots
    start at 1 through the wrapper too). The gradients are chosen small enough (1e-7) that
    every optimizer's update depends on their scale, so a wrapper that did not unscale, or
    scaled twice, would fail this."""
    rng = np.random.default_rng(0)
    init = np.zeros(6, np.float32)  # the variables then hold the updates, to float32 precision
    grads = [
        (rng.normal(size=(6,)) * np.array([1e-7, 1e-5, 1e-3, 0.1, 1, 10])).astype(np.float32)
        for _ in range(3)
    ]

    def run(optimizer, scale):
        var = keras.Variable(init)
        optimizer.build([var])
        for g in grads:
            optimizer.apply([tf.constant(g * scale)], [var])
        return var.numpy()

    for follow in ("code", "paper"):
        for name, spec in objectives.OBJECTIVES.items():
            scaled = spec.make_optimizer(follow, mixed_float16=True)
            plain = spec.make_optimizer(follow, mixed_float16=False)
            assert isinstance(scaled, keras.optimizers.LossScaleOptimizer), (name, follow)
            assert type(scaled.inner_optimizer) is type(plain), (name, follow)
            scale = scaled.initial_scale
            assert scale > 1
            expected = run(plain, 1.0)
            np.testing.assert_allclose(run(scaled, scale), expected, rtol=1e-6, err_msg=name)
            # the check is sensitive: the scaled gradients applied as they are move elsewhere
            unscaled_wrong = run(spec.make_optimizer(follow, mixed_float16=False), scale)
            assert not np.allclose(unscaled_wrong, expected, rtol=1e-3), (name, follow)


def _neuron_input(generator):
    """G up to the tensor its output neuron binarizes (the logits, in the compute dtype)."""
    return keras.Model(generator.input, networks.output_neuron(generator).input)


MIXED_CONFIGS = _quick_unless(
    *[
        (arch, objective, neuron, precision)
        for precision in ("mixed_float16", "mixed_bfloat16")
        for arch in ARCHS
        for objective in OBJECTIVES
        for neuron in NEURONS
    ],
    quick=lambda arch, objective, neuron, precision: (
        arch == "mlp" and objective == "wgan-gp" and precision == "mixed_float16"
    ),
)


@pytest.mark.parametrize("arch, objective, neuron, precision", MIXED_CONFIGS)
def test_mixed_precision_trains_binary_neurons(arch, objective, neuron, precision, monkeypatch):
    """Two compiled fit() steps (follow=paper, so the neuron uses the annealed slope) under
    the policy: see the module docstring, point 3."""
    compute_dtype = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}[precision]
    trainer = _build(_config(arch, neuron, objective, precision, jit=False, follow="paper"))
    assert keras.mixed_precision.global_policy().name == "float32"  # as run_training leaves it
    generator, discriminator = trainer.generator, trainer.discriminator
    neuron_layer = networks.output_neuron(generator)
    assert neuron_layer.compute_dtype == "float32"  # binarization stays in float32 by design
    assert generator.layers[1].compute_dtype == compute_dtype  # the rest is mixed precision

    # Optimizers: dynamic loss scaling for float16 only (bfloat16 has float32's range).
    for optimizer in (trainer.d_optimizer, trainer.g_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == (
            precision == "mixed_float16"
        )
    # Both losses go through scale_loss inside the compiled step (watched while fit traces it).
    scaled_in_step = collections.Counter()
    for name in ("d_optimizer", "g_optimizer"):
        optimizer = getattr(trainer, name)

        def spy(loss, name=name, scale_loss=optimizer.scale_loss):
            scaled_in_step[name] += 1
            return scale_loss(loss)

        monkeypatch.setattr(optimizer, "scale_loss", spy)

    g_before = [v.numpy().copy() for v in generator.trainable_variables]
    d_before = [v.numpy().copy() for v in discriminator.trainable_variables]
    rate = 2.0
    history = trainer.fit(
        _batches().repeat(),
        epochs=2,
        steps_per_epoch=1,
        verbose=0,
        callbacks=[callbacks.SlopeAnnealing(rate, steps_per_epoch=1, total_steps=3)],
    ).history
    assert scaled_in_step["d_optimizer"] >= 1 and scaled_in_step["g_optimizer"] >= 1

    # Losses finite; every update applied (a LossScaleOptimizer skips steps whose gradients
    # overflow: then its inner optimizer's iterations would lag), variables float32, finite,
    # moved.
    for name in ("d_loss", "g_loss", *trainer.critic_metric_names):
        assert np.all(np.isfinite(history[name])), (name, history[name])
    assert int(trainer.generator_step.numpy()) == 2
    assert int(trainer.g_optimizer.iterations.numpy()) == 2
    assert int(trainer.d_optimizer.iterations.numpy()) == 2  # one critic update a step
    for net, before in ((generator, g_before), (discriminator, d_before)):
        moved = False
        for var, old in zip(net.trainable_variables, before, strict=True):
            assert var.dtype == "float32", var.path
            assert np.all(np.isfinite(var.numpy())), var.path
            moved = moved or bool(np.any(var.numpy() != old))
        assert moved, f"no variable of {net.name} moved"

    # The annealed slope reached the neuron: the variable is the neuron's, float32, annealed
    # twice; the compiled step reads it; the compiled forward pass uses it.
    assert trainer.slope is neuron_layer.slope and trainer.slope.dtype == "float32"
    assert float(trainer.slope.numpy()) == rate**2
    _, one_step = _fit_functions(trainer)
    step = one_step.get_concrete_function(tf.TensorSpec((BATCH, *IMAGE), tf.float32))
    assert any(h is trainer.slope.value.handle for h in step.captured_inputs)
    z = np.random.default_rng(1).normal(size=(8, 128)).astype(np.float32)
    out = trainer.predict(z, verbose=0)
    logits = _neuron_input(generator).predict(z, verbose=0)
    assert logits.dtype == compute_dtype  # the neuron gets a reduced-precision logit
    logits = tf.reshape(tf.cast(logits, tf.float32), (8, *IMAGE))
    np.testing.assert_allclose(
        out["preactivated"], tf.sigmoid(rate**2 * logits).numpy(), rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(out["preactivated"], tf.sigmoid(logits).numpy(), atol=1e-3)

    # Samples exactly 0 or 1 (float32, the neuron's dtype), compiled and in training mode.
    assert out["samples"].dtype == np.float32
    assert set(np.unique(out["samples"]).tolist()) <= {0.0, 1.0}
    with tf.GradientTape() as tape:
        fake = generator(z, training=True)
        loss = trainer.generator_loss(discriminator(fake["samples"], training=True))
        scaled = trainer.g_optimizer.scale_loss(loss)
    assert fake["samples"].dtype == tf.float32
    assert set(np.unique(fake["samples"].numpy()).tolist()) <= {0.0, 1.0}
    # Straight-through gradients, as the step takes them (of the scaled loss), reach every G
    # variable through the binarization (its true gradient is zero): finite and non-zero.
    scale = float(trainer.g_optimizer.dynamic_scale.numpy()) if precision == "mixed_float16" else 1
    assert float(scaled.numpy()) == pytest.approx(float(loss.numpy()) * scale, rel=1e-6)
    grads = tape.gradient(scaled, generator.trainable_variables)
    for var, grad in zip(generator.trainable_variables, grads, strict=True):
        assert grad is not None, f"no gradient reaches {var.path} through the {neuron}"
        g = grad.numpy() / scale
        assert np.all(np.isfinite(g)), var.path
        assert np.any(g != 0), var.path
