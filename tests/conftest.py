"""Test-wide settings: quiet TF logs. (The checkout's top is importable as pytest's rootdir:
`tests/` is a package, so `tests`, `tools` and `bench` import without editing sys.path.)"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
