"""Measuring exported generators: the metrics, the digit classifier, the figures, sampling.

`binarygan_tf.evaluation` was one module before the package had layers; its functions, now in
`evaluation/pipeline.py`, are still reachable here.
"""

import importlib as _importlib


def __getattr__(name):
    # PEP 562: only for names not found otherwise (the sub-modules come first)
    try:
        return getattr(_importlib.import_module(f"{__name__}.pipeline"), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
