"""Importing the authors' unmodified TF1 code under TensorFlow 2.21, and finding its tensors.

Runs only inside the worker process (worker.py): it must set `TF_USE_LEGACY_KERAS` before
TensorFlow is first imported, and it turns off TF2 behaviour for the whole process.

The shims, the smallest set found to make their code build and train unchanged (their files
are never edited; each shim is applied when their code is imported, in this process only):

1. `TF_USE_LEGACY_KERAS=1`, with the `tf-keras` package installed: their layers are
   `tf.layers.dense/conv2d/conv2d_transpose/batch_normalization/max_pooling2d`, which
   `tf.compat.v1.layers` provides only from the legacy Keras 2 (under Keras 3 it raises
   "`dense` is not available with Keras 3").
2. `import tensorflow` resolves to `tf.compat.v1`, with `disable_v2_behavior()`: their
   modules call `tf.placeholder`, `tf.Session`, `tf.variable_scope`, `tf.train.*Optimizer`,
   `tf.losses`, `tf.random_uniform`, ... as TF1 names. The swap lasts only while their
   modules are imported (they keep the v1 module as their `tf`); `sys.modules` is restored.
3. `np.product`, removed in NumPy 2, is restored as `np.prod` (their `Model.get_statistics`
   counts parameters with it, and every model build calls it).
4. `imageio.imwrite` given an (H, W, 1) image writes it as (H, W): current imageio refuses a
   one-channel last axis, which their `image_io.save_image` passes for every sample grid.
5. They run from a temporary copy of the checkout (repository.staged_copy), because importing
   their `config.py` creates folders and copies sources beside itself.

Nothing else is changed: their `config.py` is imported and its `CONFIG` dicts are then set
from our flags (presets.py) the way its own `SETUP` dict would set them, and their
`BinaryGAN`/`GAN` classes build, initialize and train the model.
"""

import contextlib
import importlib
import os
import sys
import types
import warnings

from binarygan_tf import startup

LEGACY_KERAS_ENV = "TF_USE_LEGACY_KERAS"
# Their modules, imported from the staged copy: the entry of their train.py path.
_MODULES = ("config", "bgan.mnist.models")


def prepare_tensorflow(resource_variables=False):
    """Import TensorFlow for TF1 code in this process (shim 1, and v2 behaviour off).

    `resource_variables`: not their setting, a diagnostic (tools/variable_kinds.py). Their
    TF1 graph makes reference variables, which the optimizer updates in place with no order
    against other ops' reads, so an update could in principle change layer k+1's kernel while
    backprop still uses it; resource variables order every read against every write, as our
    Keras step does. Measured: their training is bit-identical on both (docs/authors_code.md)."""
    if "tensorflow" in sys.modules and os.environ.get(LEGACY_KERAS_ENV) != "1":
        raise RuntimeError(
            "TensorFlow was imported before TF_USE_LEGACY_KERAS=1 was set; "
            "their code must run in a fresh process (python -m "
            "binarygan_tf.authors.worker)."
        )
    os.environ[LEGACY_KERAS_ENV] = "1"
    with startup.quiet_stderr():
        import tensorflow as tf

    try:
        import tf_keras  # noqa: F401
    except ImportError:
        raise ImportError(
            "the authors' code needs the tf-keras package (tf.compat.v1.layers "
            "under TensorFlow 2.16+): pip install 'binarygan-tf[authors]' or "
            f"pip install tf-keras=={tf.__version__}"
        ) from None
    # TF1 on TF 2.21 warns at every deprecated call (`tf.layers.*`, reference variables); what
    # their loop prints stays.
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    warnings.filterwarnings("ignore", message=r"`tf\.layers\.\w+` is deprecated")
    tf.compat.v1.disable_v2_behavior()
    if resource_variables:
        tf.compat.v1.enable_resource_variables()
    return tf


@contextlib.contextmanager
def _tensorflow_as_v1():
    """Shim 2: `import tensorflow` gives `tf.compat.v1` while their modules are imported."""
    import tensorflow as tf

    real = sys.modules["tensorflow"]
    sys.modules["tensorflow"] = tf.compat.v1
    try:
        yield
    finally:
        sys.modules["tensorflow"] = real


def _restore_np_product():
    """Shim 3."""
    import numpy as np

    if not hasattr(np, "product"):
        np.product = np.prod


def _one_channel_imwrite():
    """Shim 4: wrap `imageio.imwrite` (their image_io calls it through the module)."""
    try:
        import imageio
    except ImportError:
        raise ImportError(
            "the authors' code needs imageio (their sample grids): pip install "
            "'binarygan-tf[authors]' or pip install imageio"
        ) from None
    if getattr(imageio.imwrite, "_binarygan_shim", False):
        return
    original = imageio.imwrite

    def imwrite(uri, im, *args, **kwargs):
        if getattr(im, "ndim", 0) == 3 and im.shape[-1] == 1:
            im = im[..., 0]
        return original(uri, im, *args, **kwargs)

    imwrite._binarygan_shim = True
    imageio.imwrite = imwrite


def import_code(copy_dir):
    """Their `config` and `bgan.mnist.models` modules, imported from the staged copy (shims
    2-5). Their README runs `python train.py` from the repository root, so the working
    directory becomes the copy (config.py's source backup reads the working directory)."""
    _restore_np_product()
    _one_channel_imwrite()
    os.chdir(copy_dir)
    sys.path.insert(0, copy_dir)
    with _tensorflow_as_v1():
        modules = [importlib.import_module(name) for name in _MODULES]
    return types.SimpleNamespace(config=modules[0], models=modules[1], copy_dir=copy_dir)


def configure(code, setup, batch_size, run_dirs, epochs=None, sample_along_training=True):
    """Their (model_config, train_config) for `setup` (presets.Setup), as `SETUP` would set
    them; `run_dirs` maps their directory keys (checkpoint_dir, sample_dir, eval_dir, log_dir,
    src_dir) to ours. Everything else keeps config.py's values (lr, betas, epsilon, clip
    value, gradient-penalty weight, slope annealing rate, sample grid)."""
    config = code.config.CONFIG
    config["exp"]["model"] = setup.model
    model = config["model"]
    model["batch_size"] = batch_size
    model["gan"]["type"] = setup.gan_type
    model["optimizer"]["type"] = setup.optimizer
    with _tensorflow_as_v1():
        model["net_g"] = importlib.import_module(
            f"bgan.mnist.presets.generator.{setup.preset_g}"
        ).NET_G
        model["net_d"] = importlib.import_module(
            f"bgan.mnist.presets.discriminator.{setup.preset_d}"
        ).NET_D
    for key, path in run_dirs.items():
        os.makedirs(path, exist_ok=True)
        model[key] = path
    train = config["train"]
    if epochs is not None:
        train["num_epoch"] = epochs
    train["sample_along_training"] = sample_along_training
    return model, train


def session_config(code):
    """The session options their train.py opens its session with."""
    return code.config.CONFIG["tensorflow"]


def build(code, sess, setup, model_config):
    """Their model object (BinaryGAN or GAN, as train.py picks it), built in the default graph
    and keeping `sess` (any tf.compat.v1 SessionInterface) for its own `sess.run` calls. Their
    `init_all` runs on the default session, as in their train.py (`with tf.Session() as sess`)."""
    cls = code.models.BinaryGAN if setup.model == "binarygan" else code.models.GAN
    return cls(sess, model_config)


def random_tensors(gan):
    """The outputs of the random ops a training step draws, to be fed with replayed values:
    `sbn_noise`, the uniform noise of the SBN output layer (`bernoulli_sample` in their ops.py;
    inside G's scope), and `interpolation`, WGAN-GP's per-sample e ~ U[0,1) of shape
    [batch, 1, 1, 1] (`get_adversarial_loss` in their model.py). None where the model has none.
    Feeding a tensor replaces its value for that `sess.run` (TF1 feeds any tensor)."""
    graph = gan.sess.graph
    g_scope = gan.G.scope.name + "/"
    found = {"sbn_noise": [], "interpolation": []}
    for op in graph.get_operations():
        if op.type != "RandomUniform":
            continue
        out = op.outputs[0]
        if op.name.startswith(g_scope):
            found["sbn_noise"].append(out)
        elif out.shape.rank == 4 and out.shape.as_list()[1:] == [1, 1, 1]:
            found["interpolation"].append(out)
    for key, tensors in found.items():
        if len(tensors) > 1:
            raise RuntimeError(f"their graph has {len(tensors)} candidate {key} draws")
    return {key: (tensors[0] if tensors else None) for key, tensors in found.items()}


def _short_name(var, root):
    name = var.op.name
    return name[len(root) + 1 :] if name.startswith(root + "/") else name


def model_variables(gan):
    """{name: tf.Variable} of G and D (trainable and batch-norm moving statistics) and the
    slope, named relative to the model's scope (`G/main/Layer_0/dense/kernel`, ...,
    `slope`); the names variable_map.py maps onto our layers."""
    import tensorflow as tf

    root = gan.scope.name
    out = {}
    for var in tf.compat.v1.global_variables(root):
        name = _short_name(var, root)
        if name.startswith(("G/", "D/")):
            out[name] = var
    out["slope"] = gan.slope_tensor  # a trainable tf.Variable(1.0) outside G's scope
    return out


def read_variables(gan, names=None):
    """{name: numpy array} of `model_variables` (all, or those in `names`)."""
    variables = model_variables(gan)
    if names is not None:
        variables = {k: v for k, v in variables.items() if k in names}
    values = gan.sess.run(list(variables.values()))
    return dict(zip(variables, values, strict=True))


def read_state(gan):
    """{name: numpy array} of every variable under the model's scope, named relative to it:
    G and D, the slope (`Variable`), `global_step`, and the optimizers' slots
    (`Optimizer/<scope>/<variable>/Adam`, `.../Adam_1`, `.../RMSProp`, `.../RMSProp_1`) and
    Adam's `beta1_power`/`beta2_power`: all a step of training reads."""
    import tensorflow as tf

    root = gan.scope.name
    variables = tf.compat.v1.global_variables(root)
    values = gan.sess.run(variables)
    return {_short_name(v, root): value for v, value in zip(variables, values, strict=True)}


def trainable_parameter_count(gan):
    """What their `Model.get_statistics` reports as "Number of parameters"."""
    import numpy as np
    import tensorflow as tf

    return int(
        sum(np.prod(v.shape.as_list()) for v in tf.compat.v1.trainable_variables(gan.scope.name))
    )
