"""Diagnostics behind statements in docs/ (run from a checkout with the package installed:
`python tools/NAME.py`, or `python -m tools.NAME`)."""
