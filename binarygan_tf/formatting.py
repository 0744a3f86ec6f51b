"""How numbers are written for people: one home for the tables of evaluate.py, the results
page and the published models' README."""

import math

MISSING = "n/a"


def number(value, fmt="{:.2f}"):
    """`fmt` of `value`, or "n/a" for a value that was not measured (None) or has no meaning
    (NaN, e.g. a notch ratio whose neighbourhood is empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return fmt.format(value)


def duration(seconds):
    """ "42 s", "12 min 05 s", "3 h 07 min"."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
