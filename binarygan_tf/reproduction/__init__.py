"""The paper's reproduction: which runs, the job that trains and evaluates them, the
claims, the results page, publishing under models/.

`binarygan_tf.reproduction` was one module before the package had layers; its functions, now in
`reproduction/job.py`, are still reachable here.
"""

import importlib as _importlib


def __getattr__(name):
    # PEP 562: only for names not found otherwise (the sub-modules come first)
    try:
        return getattr(_importlib.import_module(f"{__name__}.job"), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
