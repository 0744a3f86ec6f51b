"""The `binarygan` command: `binarygan train|evaluate|reproduce|sample|export [--flags]`.

Each subcommand is a module here with `DOC`, `define_flags()` and `main()`; the top-level
`train.py`, `evaluate.py`, ... of a checkout and `python -m binarygan_tf` run the same
modules, so an installed package and a checkout behave alike.
"""

import importlib
import os
import signal
import sys

from binarygan_tf.errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, INTERRUPTED

SUBCOMMANDS = {
    "train": "train a model (one paper experiment: --experiment=exp1_mlp_dbn)",
    "evaluate": "measure exported generators against MNIST",
    "reproduce": "train, evaluate and write the results page of all the paper's runs",
    "sample": "draw samples from an exported generator to a PNG grid or .npy",
    "export": "export a run's generator from a checkpoint",
    "compare-authors": "train the authors' own TF1 code on our data and export it like ours",
}
# The module of each subcommand (`DOC`, `define_flags()`, `main()`).
MODULES = {name: f"binarygan_tf.commands.{name}" for name in SUBCOMMANDS}
MODULES["compare-authors"] = "binarygan_tf.authors.compare"


# The terminal's stderr, kept aside: while TensorFlow loads, fd 2 points at a buffer.
_TERMINAL_STDERR = os.dup(2)


def _stop_at_once(signum, frame):
    os.write(_TERMINAL_STDERR, (INTERRUPTED + "\n").encode())
    os._exit(EXIT_INTERRUPTED)


def run_subcommand(name, argv):
    """Define `name`'s flags and run it with `argv` (argv[0] is the program name)."""
    # Until TensorFlow has loaded, Ctrl-C ends the process at once with one line: nothing is
    # written yet, and a KeyboardInterrupt raised inside a library's import can be swallowed
    # by a bare `except:` there (docs/robustness.md). The usual KeyboardInterrupt comes back
    # at the end of startup.quiet_tensorflow_import().
    signal.signal(signal.SIGINT, _stop_at_once)
    try:  # Ctrl-C while the modules load is one line too (cli.run covers what follows)
        from binarygan_tf.commands import cli

        module = importlib.import_module(MODULES[name])
        module.define_flags()
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    cli.run(module.main, argv, doc=module.DOC)


def usage():
    lines = [
        "usage: binarygan COMMAND [--flag=value ...]   (binarygan COMMAND --help)",
        "",
        "commands:",
    ]
    lines += [f"  {name:<16} {what}" for name, what in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv if argv is None else argv
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    name = argv[1]
    if name not in SUBCOMMANDS:
        print(f"error: unknown command {name!r}.\n{usage()}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    run_subcommand(name, [f"binarygan {name}", *argv[2:]])
