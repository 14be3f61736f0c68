"""Reading, checking and describing dataset files with bounded memory. Plain NumPy/pyarrow:
no Django, no storage.

A dataset is a feature array ``x`` (one row per sample, any trailing shape), a label array
``y`` (one int or string per sample) and, for processed versions, ``split`` (int8 per
sample: 0 train, 1 validation, 2 test):

- ``.npz``: members ``x.npy``, ``y.npy`` and optionally ``split.npy``; never unpickled;
- ``.csv`` / ``.parquet``: one label column (``label`` unless named), the rest numeric.

Readers check every header before reading data and then stream features in chunks of about
32 MB, so validating and describing a file takes memory independent of its size; so does
``open_arrays`` for features too large to hold, which it leaves in a memory-mapped file.
"""

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import DEFAULT_LIMITS, DatasetFileError, DatasetReader, Limits, class_labels
from .describe import Description, describe
from .memmap import map_features
from .scan import FiniteCheck, scan, validate
from .thumbnails import render_thumbnails
from .writer import MemberStream, NpzWriter, write_npz

__all__ = [
    "DEFAULT_LABEL_COLUMN",
    "FORMATS",
    "DatasetFileError",
    "DatasetReader",
    "Description",
    "Limits",
    "LoadedArrays",
    "MemberStream",
    "NpzWriter",
    "builtin_dataset",
    "class_labels",
    "describe",
    "format_for_filename",
    "open_arrays",
    "open_dataset",
    "read_arrays",
    "render_thumbnails",
    "validate",
    "write_builtin",
    "write_npz",
]

FORMATS = {".npz": "npz", ".csv": "csv", ".parquet": "parquet"}
DEFAULT_LABEL_COLUMN = "label"


def format_for_filename(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in FORMATS:
        raise DatasetFileError(
            f"unsupported file type {suffix or '(none)'!r}: use one of {', '.join(FORMATS)}"
        )
    return FORMATS[suffix]


def open_dataset(
    path: Path, fmt: str, *, label_column: str = "", limits: Limits = DEFAULT_LIMITS
) -> DatasetReader:
    """Open a dataset file, reading its headers (and a CSV's labels); close it when done."""
    path = Path(path)
    if fmt not in FORMATS.values():
        raise DatasetFileError(f"unsupported format {fmt!r}")
    if path.stat().st_size == 0:
        raise DatasetFileError("the file is empty")
    if fmt == "npz":
        from .npz import NpzReader

        return NpzReader(path, limits)
    # pyarrow is imported only for tables: it would add tens of MB to every .npz worker.
    from .tables import CsvReader, ParquetReader

    reader_class = CsvReader if fmt == "csv" else ParquetReader
    return reader_class(path, label_column or DEFAULT_LABEL_COLUMN, limits)


@dataclass
class LoadedArrays:
    x: np.ndarray  # an np.memmap when open_arrays left the features on disk
    y: np.ndarray
    split: np.ndarray | None


def read_arrays(
    path: Path, fmt: str, *, label_column: str = "", limits: Limits = DEFAULT_LIMITS
) -> LoadedArrays:
    """The whole dataset in memory, checked as it is read (one pass)."""
    with open_dataset(path, fmt, label_column=label_column, limits=limits) as reader:
        return LoadedArrays(x=_read_features(reader), y=reader.labels(), split=reader.split())


def open_arrays(
    path: Path,
    fmt: str,
    *,
    folder: Path,
    max_in_memory_bytes: int,
    label_column: str = "",
    limits: Limits = DEFAULT_LIMITS,
) -> LoadedArrays:
    """The dataset as ``read_arrays`` gives it when its decoded features take at most
    ``max_in_memory_bytes``; above that, with ``x`` a read-only float32 ``np.memmap`` of a
    file written in ``folder`` (``map_features``: one pass whose memory use does not grow
    with the file). Checked the same way (finite values, limits) in one pass; labels and
    split (one value per sample) are in memory either way."""
    with open_dataset(path, fmt, label_column=label_column, limits=limits) as reader:
        decoded = reader.samples * reader.features * reader.dtype.itemsize
        if decoded <= max_in_memory_bytes:
            x = _read_features(reader)
        else:
            x = map_features(reader, Path(folder))
        return LoadedArrays(x=x, y=reader.labels(), split=reader.split())


def _read_features(reader: DatasetReader) -> np.ndarray:
    x = np.empty((reader.samples, *reader.feature_shape), reader.dtype)
    scan(reader, [FiniteCheck(), _Collect(x)])
    return x


class _Collect:
    def __init__(self, out: np.ndarray):
        self.out = out

    def update(self, x: np.ndarray, y: np.ndarray, start: int) -> None:
        self.out[start : start + len(x)] = x

    def finish(self) -> None:
        pass


def builtin_dataset(name: str) -> bytes:
    """The content of a data set that ships inside an installed package, as .npz bytes."""
    buffer = io.BytesIO()
    write_npz(buffer, **_builtin_arrays(name))
    return buffer.getvalue()


def write_builtin(name: str, path: Path) -> None:
    """Write a built-in data set to ``path`` (the same bytes as ``builtin_dataset``)."""
    write_npz(Path(path), **_builtin_arrays(name))


def _builtin_arrays(name: str) -> dict[str, np.ndarray]:
    if name != "digits":
        raise DatasetFileError(f"unknown built-in dataset {name!r}: the built-in one is 'digits'")
    from sklearn.datasets import load_digits

    digits = load_digits()
    return {"x": digits.data.astype(np.float32), "y": digits.target.astype(np.int64)}
