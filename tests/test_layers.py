"""The package's layers import one way, and no two modules import each other.

Read from the source (every `import` and `from ... import`, function-level ones included),
so the test needs no TensorFlow and sees the lazy imports that a run would only reach late.
"""

import ast
import os

from tests.helpers import ROOT

PACKAGE = "binarygan_tf"
# Shared by every layer; they import no layer.
BASE = {"errors", "files", "formatting", "locations", "provenance", "startup"}
# Each layer may import the base and the layers before it, never one after it.
LAYERS = ("model", "training", "evaluation", "reproduction", "authors", "commands")


def _modules():
    """{dotted module name: path} of every module of the package."""
    out = {}
    for folder, _, names in os.walk(os.path.join(ROOT, PACKAGE)):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[dotted.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _imports(path):
    """The package's modules that `path` imports (a name imported from a package counts as
    its sub-module when there is one)."""
    found = set()
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _layer(module):
    """The layer index of a module (-1: the base or the package itself)."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in BASE or parts[1] in ("__main__",):
        return -1
    return LAYERS.index(parts[1])


def test_every_module_is_in_a_layer_or_the_base():
    for module in MODULES:
        parts = module.split(".")
        if len(parts) > 1 and parts[1] != "__main__":
            assert parts[1] in BASE or parts[1] in LAYERS, module


def upward_imports(graph):
    return [
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if module.split(".")[-1] != "__main__"
        and target != PACKAGE
        and _layer(target) > _layer(module)
    ]


def circles(graph):
    found, done = [], set()

    def visit(module, path):
        for target in sorted(graph.get(module, ())):
            if target in path:
                found.append(path[path.index(target) :] + [target])
            elif target not in done:
                visit(target, path + [target])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    return found


def test_layers_import_only_the_ones_below():
    assert upward_imports(GRAPH) == []


def test_the_model_stays_free_of_everything_above_it():
    """The core a reader checks against the paper imports no training, reproduction or
    command-line code (the strongest case of the rule above, spelled out)."""
    for module, targets in GRAPH.items():
        if module.startswith(f"{PACKAGE}.model"):
            assert all(t.startswith((f"{PACKAGE}.model", f"{PACKAGE}.files")) for t in targets), (
                module,
                targets,
            )


def test_no_import_circles():
    assert circles(GRAPH) == []


def test_the_checks_see_a_violation():
    """Not vacuous: a made-up upward import and a made-up circle are found."""
    m, c, t = (f"{PACKAGE}.{x}" for x in ("model.fake", "commands.cli", "training.config"))
    assert upward_imports({m: {c}, c: {m}}) == [f"{m} imports {c}"]
    assert circles({m: {t}, t: {m}}) == [[m, t, m]]
    assert circles({m: {t}, t: set()}) == []


def test_the_flat_layouts_names_still_import():
    """`from binarygan_tf import config` (any module name of the former flat layout) reaches
    the module in its layer."""
    import binarygan_tf

    for old, new in binarygan_tf.MOVED.items():
        assert f"{PACKAGE}.{new}" in MODULES, (old, new)
    from binarygan_tf import config, run_lock

    assert config.__name__ == f"{PACKAGE}.training.config"
    assert run_lock.__name__ == f"{PACKAGE}.training.run_directory"


def test_reaching_a_light_module_loads_no_tensorflow():
    """`from binarygan_tf.evaluation import sampling` must not load the old module's new home
    (and TensorFlow with it) on the way: the commands check their flags before TensorFlow."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from binarygan_tf.evaluation import sampling\n"
        "from binarygan_tf.reproduction import experiments\n"
        "from binarygan_tf.training import config, flag_defs\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
