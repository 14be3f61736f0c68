"""Features decoded once to a float32 ``.npy`` file on local disk and mapped from there, so
that training reads data larger than the worker's memory a batch at a time.

The file is written chunk by chunk with plain writes (pages written through a mapping would
count in the worker's memory), checked on the way as ``read_arrays`` checks, then opened with
``np.load(mmap_mode="r")``: read-only, and never unpickled.
"""

import os
import tempfile
from pathlib import Path

import numpy as np

from .base import DatasetReader
from .scan import FiniteCheck, scan
from .writer import npy_header


class _NpyWriter:
    """A scan visitor that appends each chunk, as float32, to an open .npy file."""

    def __init__(self, fp, shape: tuple[int, ...]):
        self.fp = fp
        fp.write(npy_header(shape, np.dtype(np.float32)))

    def update(self, x: np.ndarray, y: np.ndarray, start: int) -> None:
        self.fp.write(np.ascontiguousarray(x, dtype=np.float32).reshape(-1).view(np.uint8))

    def finish(self) -> None:
        pass  # whoever opened the file closes it, after a refused pass too


def map_features(reader: DatasetReader, folder: Path) -> np.memmap:
    """Every feature of ``reader`` written to a new float32 .npy file in ``folder`` (one pass,
    refusing NaN and infinite values) and mapped read-only. Memory use does not depend on the
    dataset's size; the file takes ``samples * features * 4`` bytes of disk, and goes with
    ``folder``. A file whose data is refused is removed."""
    fd, name = tempfile.mkstemp(prefix="features-", suffix=".npy", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fp:
            scan(reader, [FiniteCheck(), _NpyWriter(fp, (reader.samples, *reader.feature_shape))])
        return np.load(name, mmap_mode="r")
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
