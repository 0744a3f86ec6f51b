"""Starting TensorFlow as every entry point of the project wants it, in one place.

- Environment defaults, read by TensorFlow when it loads, so they are set before: oneDNN's
  kernels for the CPU ops on (docs/performance.md, "oneDNN", says why), and the C++ log level
  at warnings. A value the user set wins.
- TensorFlow's C++ start-up writes 4-7 log lines to stderr whatever TF_CPP_MIN_LOG_LEVEL says
  (they are emitted before its logging is configured). `quiet_tensorflow_import()` loads it
  with stderr pointed at a buffer that is shown only if the import fails; set
  BINARYGAN_TF_LOGS=1 to see it.

Used by the commands and by `authors/` (which starts the authors' TF1 code the same way). No
TensorFlow at import.
"""

import contextlib
import os
import signal
import sys
import tempfile
import threading

ENVIRONMENT_DEFAULTS = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
SHOW_TF_LOGS = "BINARYGAN_TF_LOGS"


def set_environment_defaults():
    """ENVIRONMENT_DEFAULTS, where the environment does not say otherwise. Called once, by
    the package's __init__: importing any module of the package runs it first."""
    for name, value in ENVIRONMENT_DEFAULTS.items():
        os.environ.setdefault(name, value)


@contextlib.contextmanager
def stderr_to_buffer():
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


def quiet_stderr():
    """`stderr_to_buffer()`, unless BINARYGAN_TF_LOGS asks to see TensorFlow's logs."""
    if os.environ.get(SHOW_TF_LOGS):
        return contextlib.nullcontext()
    return stderr_to_buffer()


def quiet_tensorflow_import():
    """Import TensorFlow and Keras without their C++ start-up lines (unless asked for); from
    then on Ctrl-C raises KeyboardInterrupt again (the training callbacks turn it into a
    checkpoint and a clean stop)."""
    try:
        with quiet_stderr():
            import keras  # noqa: F401
            import tensorflow as tf

            tf.config.list_physical_devices()  # the device probe logs too (cuInit on CPUs)
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)
