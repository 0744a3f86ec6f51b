"""What the three entry points share: one-line errors with exit status 2, never a traceback.

absl on its own prints a usage dump and exits with status 1 on a bad flag, and a `UserError`
raised deep in the library would surface as a traceback. `run(main)` turns both into one
`error: ...` line on stderr: status 2 for the user's mistakes, 1 for `TrainingFailed`.
"""

import sys

from absl import app, flags, logging

from binarygan_tf.errors import TrainingFailed, UserError


def _parse_flags_or_exit(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        print(f"error: {e}. See --helpshort for the flags.", file=sys.stderr)
        sys.exit(2)


def _guarded(main):
    def wrapper(argv):
        if len(argv) > 1:
            print(f"error: unexpected arguments {argv[1:]}; flags look like --name=value.",
                  file=sys.stderr)
            return 2
        logging.set_verbosity(logging.WARNING)  # TF's INFO lines (checkpoint sharding...) are noise
        try:
            return main()
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except TrainingFailed as e:
            print(f"error: {e}", file=sys.stderr)
            return 1

    return wrapper


def run(main):
    """Run `main()` (no arguments; it reads absl FLAGS) as a command-line program."""
    app.run(_guarded(main), flags_parser=_parse_flags_or_exit)
