"""binarygan-tf: Dong & Yang (2018), binary-neuron GANs, in TensorFlow 2 / Keras 3.

The package is cut in layers, each a sub-package that imports only the ones before it:
`model` (neurons, networks, objectives, the trainer, the exported generator), `training` (the
settings, the data, the run directory, the fit() loop), `evaluation` (metrics, the
classifier, figures, sampling), `reproduction` (the paper's runs, claims and results page),
then `authors` (the authors' TF1 code, run beside ours) and `commands` (the command line).
Shared below them all: `errors`, `files`, `formatting`, `locations`, `provenance`, `startup`.
tests/test_layers.py keeps the imports going that way.

`from binarygan_tf import neurons` (and every other module of the former flat layout) keeps
working: the name is looked up in its sub-package.
"""

import importlib as _importlib

from binarygan_tf import startup as _startup

__version__ = "0.1.0"

# TensorFlow reads these when it loads: set them before, whoever imports us first.
_startup.set_environment_defaults()

# The flat layout's module names -> where they live now.
MOVED = {
    **{
        name: f"model.{name}"
        for name in (
            "neurons",
            "networks",
            "objectives",
            "trainer",
            "export",
            "contract",
            "seeds",
            "random_draws",
            "piecewise_linear",
        )
    },
    **{
        name: f"training.{name}"
        for name in ("config", "flag_defs", "train_lib", "callbacks", "data", "sample_grids")
    },
    **{name: f"evaluation.{name}" for name in ("metrics", "classifier", "plots", "sampling")},
    **{
        name: f"reproduction.{name}"
        for name in ("experiments", "claims", "publishing", "sharding", "progress")
    },
    "results_page": "reproduction.page",
    "cli": "commands.cli",
    # three modules that were one concept: the run directory
    **{name: "training.run_directory" for name in ("run_layout", "run_lock", "run_state")},
}


def __getattr__(name):
    if name in MOVED:
        return _importlib.import_module(f"{__name__}.{MOVED[name]}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
