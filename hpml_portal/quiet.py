"""TensorFlow's start-up lines (oneDNN, no CUDA driver, ``E0000 ... failed call to cuInit``)
come from its C++ logging, straight to the process's standard error, whatever
TF_CPP_MIN_LOG_LEVEL says. A command's user reads them as failures: commands start TensorFlow
with file descriptor 2 pointed at /dev/null, then put it back. A failure to import is still
raised (and printed) as usual, after."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def start_keras_quietly() -> None:
    """Import Keras and start its backend's devices now, without their start-up lines."""
    if "keras" in sys.modules:
        return
    with native_stderr_silenced():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
