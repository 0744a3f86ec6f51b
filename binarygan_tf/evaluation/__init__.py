"""Measuring exported generators: the metrics, the digit classifier, the figures, sampling.

`binarygan_tf.evaluation` was one module before the package had layers; its functions, now in
`evaluation/pipeline.py`, are still reachable here.
"""

import importlib as _importlib
import importlib.util as _importlib_util


def __getattr__(name):
    # PEP 562: only for names not found otherwise. `from package import submodule` asks here
    # first: a sub-module must then be left to the import system, or its name would load
    # (and import TensorFlow through) the old module's new home.
    if _importlib_util.find_spec(f"{__name__}.{name}") is not None:
        return _importlib.import_module(f"{__name__}.{name}")
    try:
        return getattr(_importlib.import_module(f"{__name__}.pipeline"), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
