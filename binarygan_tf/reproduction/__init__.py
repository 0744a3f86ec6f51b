"""The paper's reproduction: which runs, the job that trains and evaluates them, the
claims, the results page, publishing under models/.

`binarygan_tf.reproduction` was one module before the package had layers; its functions, now in
`reproduction/job.py` and `reproduction/evaluations.py`, are still reachable here.
"""

import importlib as _importlib
import importlib.util as _importlib_util

_OLD_HOMES = ("job", "evaluations")  # where the old module's names live now


def __getattr__(name):
    # PEP 562: only for names not found otherwise. `from package import submodule` asks here
    # first: a sub-module must then be left to the import system, or its name would load
    # (and import TensorFlow through) the old module's new home.
    if _importlib_util.find_spec(f"{__name__}.{name}") is not None:
        return _importlib.import_module(f"{__name__}.{name}")
    for home in _OLD_HOMES:
        try:
            return getattr(_importlib.import_module(f"{__name__}.{home}"), name)
        except AttributeError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
