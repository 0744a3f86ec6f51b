"""Speed measurements behind docs/performance.md (run from a checkout with the package
installed: `python bench/NAME.py`, or `python -m bench.NAME`)."""
