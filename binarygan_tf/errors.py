"""The one exception type that means "the user can fix this".

Entry points catch `UserError`, print its message on one line and exit with status 2, so a
typo in a flag or a missing file never ends in a traceback. Anything else is a bug and keeps
its traceback.
"""


class UserError(Exception):
    """A mistake in the user's input (flags, paths, data files) with a fix they can apply."""


class DataError(UserError):
    """A data file is missing, truncated or not what its name claims."""


class TrainingFailed(Exception):
    """Training stopped on its own fault (NaN/Inf); the message says where and what was kept."""
