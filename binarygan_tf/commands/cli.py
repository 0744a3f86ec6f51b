"""What every command shares: flags parsed and checked before TensorFlow loads, a grouped
--help, one-line errors, and a one-line Ctrl-C at any moment.

- absl on its own prints a usage dump and exits with status 1 on a bad flag, lists only a
  module's "key flags" under --helpshort (ours live in flag_defs, so it listed none), and a
  `UserError` raised deep in the library would surface as a traceback. `run(main)` turns a
  bad flag or a `UserError` into one `error: ...` line with status 2, `TrainingFailed` into
  status 1, Ctrl-C into one line with status 130, and prints its own --help grouped by
  data / model / schedule / output / speed with the real defaults.

Loading TensorFlow quietly is `binarygan_tf.startup`'s, shared with `authors/`.
"""

import contextlib
import os
import re
import sys
import textwrap

from absl import flags, logging

from binarygan_tf.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    INTERRUPTED,
    TrainingFailed,
    UserError,
)

HELP_ARGS = ("-h", "--help", "--helpshort", "--helpfull", "-?")


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
    from binarygan_tf.training import flag_defs

    named = [a.split("=", 1)[1] for a in argv[1:] if re.match(r"--?flagfile=", a)]
    missing = [path for path in named if not os.path.isfile(path)]
    what = f"cannot read flagfile {missing[0]}" if missing else str(error).removeprefix("ERROR:: ")
    names = flag_defs.experiment_names()
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
        sys.exit(EXIT_USER_ERROR)
    except flags.Error as e:
        print(f"error: {e}. See --help for the flags.", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    if len(rest) > 1:
        print(
            f"error: unexpected arguments {rest[1:]}; flags look like --name=value. See --help.",
            file=sys.stderr,
        )
        sys.exit(EXIT_USER_ERROR)


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
        status = EXIT_USER_ERROR
    except TrainingFailed as e:
        print(f"error: {e}", file=sys.stderr)
        status = EXIT_FAILED
    except BrokenPipeError:  # output piped into `head`: not an error
        status = 0
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        status = EXIT_INTERRUPTED
    sys.stdout.flush()
    sys.exit(status or 0)
