"""What every command shares: flags parsed and checked before TensorFlow loads, a grouped
--help, one-line errors, and a one-line Ctrl-C at any moment.

- absl on its own prints a usage dump and exits with status 1 on a bad flag, lists only a
  module's "key flags" under --helpshort (ours live in flag_defs, so it listed none), and a
  `UserError` raised deep in the library would surface as a traceback. `run(main)` turns a
  bad flag or a `UserError` into one `error: ...` line with status 2, `TrainingFailed` into
  status 1, Ctrl-C into one line with status 130, and prints its own --help grouped by
  data / model / schedule / output / speed with the real defaults.
- TensorFlow's C++ start-up writes 4-7 log lines to stderr whatever TF_CPP_MIN_LOG_LEVEL
  says (they are emitted before its logging is configured). `quiet_tensorflow_import()`
  loads it with stderr pointed at a buffer that is shown only if the import fails; set
  BINARYGAN_TF_LOGS=1 to see it.
"""

import contextlib
import os
import re
import signal
import sys
import tempfile
import textwrap
import threading

from absl import flags, logging

from binarygan_tf.errors import TrainingFailed, UserError

HELP_ARGS = ("-h", "--help", "--helpshort", "--helpfull", "-?")
SHOW_TF_LOGS = "BINARYGAN_TF_LOGS"


@contextlib.contextmanager
def _stderr_to_buffer():
    """Point file descriptor 2 (where C++ logs go) at a temporary file for the block; on an
    exception, replay what was captured."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as buf:
        os.dup2(buf.fileno(), 2)
        try:
            yield
        except KeyboardInterrupt:  # the user stopped it: no start-up log to explain
            raise
        except BaseException:
            os.dup2(saved, 2)
            buf.seek(0)
            sys.stderr.write(buf.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_tensorflow_import():
    """Import TensorFlow and Keras without their C++ start-up lines (unless asked for); from
    then on Ctrl-C raises KeyboardInterrupt again (the training callbacks turn it into a
    checkpoint and a clean stop)."""
    try:
        _import_tensorflow()
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _import_tensorflow():
    if os.environ.get(SHOW_TF_LOGS):
        import tensorflow  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _stderr_to_buffer():
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()  # the device probe logs too (cuInit on CPU machines)


def grouped_help(program, flag_values=flags.FLAGS, doc=""):
    """The command's flags under their groups (flag_defs.GROUP_OF), with real defaults."""
    from binarygan_tf.training import config, flag_defs

    own = {
        name: flag
        for name, flag in flag_values._flags().items()
        if name in flag_defs.GROUP_OF and name == flag.name
    }
    lines = [f"usage: {program} [--flag=value ...] [--flagfile=FILE]", ""]
    if doc:
        lines += [doc.strip(), ""]
    for group in config.GROUPS:
        names = sorted(n for n in own if flag_defs.GROUP_OF[n] == group)
        if not names:
            continue
        lines.append(f"{group}:")
        for name in names:
            flag = own[name]
            default = flag.default_as_str if flag.default is not None else "unset"
            if isinstance(flag.default, bool):
                default = "true" if flag.default else "false"
            head = f"  --{name}"
            if getattr(flag.parser, "enum_values", None):
                head += "={" + ",".join(flag.parser.enum_values) + "}"
            head += f"  (default: {default.strip(chr(39))})"
            lines.append(head)
            text = re.sub(r"^<[^>]*>: ", "", flag.help)  # absl prefixes enum choices
            text = re.sub(r";\s*repeat this option to specify a list of values$", "", text)
            lines += textwrap.wrap(text, 88, initial_indent="      ", subsequent_indent="      ")
        lines.append("")
    lines.append("Booleans: --name / --noname. A flagfile holds one --name=value per line.")
    return "\n".join(lines)


def _unreadable_flagfile(argv, error):
    """absl's "ERROR:: Unable to open flagfile: [Errno 2] ..." as a sentence naming the file
    and, since a mistyped experiment name is the usual cause, the paper's flagfiles."""
    from binarygan_tf.training import config

    named = [a.split("=", 1)[1] for a in argv[1:] if re.match(r"--?flagfile=", a)]
    missing = [path for path in named if not os.path.isfile(path)]
    what = f"cannot read flagfile {missing[0]}" if missing else str(error).removeprefix("ERROR:: ")
    names = config.experiment_names()
    hint = f" The paper's experiments: flags/{{{','.join(names)}}}.cfg." if names else ""
    return what + "." + hint


def parse_flags(argv, flag_values=flags.FLAGS, doc=""):
    """Parse `argv` into `flag_values`, or print help / one error line and exit."""
    program = os.path.basename(argv[0])
    if any(arg in HELP_ARGS for arg in argv[1:]):
        with contextlib.suppress(BrokenPipeError):  # piped into `head`
            print(grouped_help(program, flag_values, doc))
        sys.exit(0)
    try:
        rest = flag_values(argv)
    except flags.CantOpenFlagFileError as e:
        print(f"error: {_unreadable_flagfile(argv, e)}", file=sys.stderr)
        sys.exit(2)
    except flags.Error as e:
        print(f"error: {e}. See --help for the flags.", file=sys.stderr)
        sys.exit(2)
    if len(rest) > 1:
        print(
            f"error: unexpected arguments {rest[1:]}; flags look like --name=value. See --help.",
            file=sys.stderr,
        )
        sys.exit(2)


def run(main, argv=None, doc=""):
    """Run `main()` (no arguments; it reads absl FLAGS) as a command-line program: parse,
    then main, with the error conventions above. Exits with main's status."""
    argv = sys.argv if argv is None else argv
    try:
        parse_flags(argv, doc=doc)
        logging.set_verbosity(logging.WARNING)  # TF's INFO lines (checkpoint sharding...) are noise
        status = main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        status = 2
    except TrainingFailed as e:
        print(f"error: {e}", file=sys.stderr)
        status = 1
    except BrokenPipeError:  # output piped into `head`: not an error
        status = 0
    except KeyboardInterrupt:
        from binarygan_tf.commands import INTERRUPTED

        print(INTERRUPTED, file=sys.stderr)
        status = 130
    sys.stdout.flush()
    sys.exit(status or 0)
