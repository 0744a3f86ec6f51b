"""The one exception type that means "the user can fix this", and the exit statuses.

Entry points catch `UserError`, print its message on one line and exit with status 2, so a
typo in a flag or a missing file never ends in a traceback. Anything else is a bug and keeps
its traceback.
"""

# Exit statuses of every command (commands/cli.py maps the exceptions below onto them).
EXIT_FAILED = 1  # TrainingFailed
EXIT_USER_ERROR = 2  # UserError, a bad flag
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED = "interrupted (Ctrl-C)."


class UserError(Exception):
    """A mistake in the user's input (flags, paths, data files) with a fix they can apply."""


def unwritable_output(path, error):
    """The UserError for an output folder that cannot be written: no permission, a file in
    the way, a full disk (`error` is the OSError)."""
    return UserError(
        f"cannot write to {path}: {error.strerror}. Choose a writable --out_dir with free space."
    )


class DataError(UserError):
    """A data file is missing, truncated or not what its name claims."""


class TrainingFailed(Exception):
    """Training stopped on its own fault (NaN/Inf); the message says where and what was kept."""
