"""Reading, checking and describing dataset files. Plain NumPy/pandas: no Django, no storage.

A dataset is a feature array ``x`` (one row per sample, any trailing shape) and a label array
``y`` (one class label per sample):

- ``.npz``: arrays named ``x`` and ``y``; loaded with ``allow_pickle=False``;
- ``.csv`` / ``.parquet``: one column of labels (``label`` unless named), the rest numeric.
"""

import io
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

FORMATS = {".npz": "npz", ".csv": "csv", ".parquet": "parquet"}
DEFAULT_LABEL_COLUMN = "label"


class DatasetFileError(ValueError):
    """The file cannot be used as a dataset; the message says why, for people."""


def format_for_filename(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in FORMATS:
        raise DatasetFileError(
            f"unsupported file type {suffix or '(none)'!r}: use one of {', '.join(FORMATS)}"
        )
    return FORMATS[suffix]


def read_arrays(path: Path, fmt: str, *, label_column: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Load and check a dataset file; return (x, y)."""
    if fmt == "npz":
        x, y = _read_npz(path)
    elif fmt in ("csv", "parquet"):
        x, y = _read_table(path, fmt, label_column or DEFAULT_LABEL_COLUMN)
    else:
        raise DatasetFileError(f"unsupported format {fmt!r}")
    _check_arrays(x, y)
    return x, y


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # np.load falls back to unpickling anything that is not a zip or .npy file: refuse
    # those before it gets the chance, so the message says what the file really is.
    if not zipfile.is_zipfile(path):
        raise DatasetFileError("not a valid .npz file: it is not a zip archive of arrays")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"x", "y"} - set(npz.files)
            if missing:
                found = ", ".join(sorted(npz.files)) or "nothing"
                raise DatasetFileError(
                    "an .npz dataset needs arrays named 'x' (features) and 'y' (labels); "
                    f"this file holds {found}"
                )
            x, y = npz["x"], npz["y"]
    except DatasetFileError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DatasetFileError(
                "the .npz file holds pickled Python objects, which are never loaded; "
                "save plain numeric arrays"
            ) from exc
        raise DatasetFileError(f"not a valid .npz file: {exc}") from exc
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise DatasetFileError(f"not a valid .npz file: {exc}") from exc
    # A zip member that is not an .npy array comes back as raw bytes.
    if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
        raise DatasetFileError("not a valid .npz file: 'x' and 'y' must be saved NumPy arrays")
    return x, y


def _read_table(path: Path, fmt: str, label_column: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    try:
        frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas raises many types for a malformed file
        raise DatasetFileError(f"not a valid .{fmt} file: {exc}") from exc
    if label_column not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:20]))
        raise DatasetFileError(
            f"the file has no label column {label_column!r} (columns: {columns}); "
            "name the label column"
        )
    features = frame.drop(columns=[label_column])
    non_numeric = [
        str(c) for c, t in features.dtypes.items() if not pd.api.types.is_numeric_dtype(t)
    ]
    if non_numeric:
        raise DatasetFileError(f"feature columns must be numeric; not numeric: {non_numeric[:10]}")
    labels = frame[label_column]
    missing = int(labels.isna().sum())
    if missing:
        raise DatasetFileError(f"{missing} rows have no value in the label column {label_column!r}")
    if not pd.api.types.is_numeric_dtype(labels.dtype):
        return features.to_numpy(), labels.astype(str).to_numpy(dtype=str)
    return features.to_numpy(), labels.to_numpy()


def _check_arrays(x: np.ndarray, y: np.ndarray) -> None:
    if x.dtype.kind not in "biuf":
        raise DatasetFileError(f"features must be numeric, not {x.dtype}")
    if x.ndim < 2:
        raise DatasetFileError(
            f"features need one row per sample (at least 2 dimensions), got {x.ndim}"
        )
    if y.ndim != 1:
        raise DatasetFileError(f"labels must be one value per sample (1 dimension), got {y.ndim}")
    if len(x) != len(y):
        raise DatasetFileError(f"{len(x)} feature rows but {len(y)} labels")
    if len(x) == 0:
        raise DatasetFileError("the dataset has no samples")
    if x[0].size == 0:
        raise DatasetFileError(f"the samples have no features (shape {list(x.shape[1:])})")
    if y.dtype.kind not in "biuU":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            return
        raise DatasetFileError(f"labels must be integers or strings, not {y.dtype}")
    if x.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise DatasetFileError(f"features hold {bad} values that are NaN or infinite")


def class_labels(y: np.ndarray) -> list:
    """The sorted distinct labels as JSON values (ints for numbers, else strings)."""
    if y.dtype.kind in "biuf":
        return [int(v) for v in np.unique(y)]
    return [str(v) for v in np.unique(y)]


def describe(x: np.ndarray, y: np.ndarray) -> tuple[dict, dict]:
    """Schema (what the data is) and stats (what it looks like) for a checked dataset."""
    labels, counts = np.unique(y, return_counts=True)
    classes = class_labels(y)
    schema = {
        "samples": int(len(x)),
        "feature_shape": [int(d) for d in x.shape[1:]],
        "dtype": str(x.dtype),
        "label_dtype": str(y.dtype),
        "classes": classes,
        "num_classes": len(classes),
        "class_counts": {str(c): int(n) for c, n in zip(classes, counts, strict=True)},
    }
    xf = x.astype(np.float64, copy=False)
    stats = {
        "min": float(xf.min()),
        "max": float(xf.max()),
        "mean": float(xf.mean()),
        "std": float(xf.std()),
    }
    return schema, stats


def write_npz(out: BinaryIO, **arrays: np.ndarray) -> None:
    """Write an .npz whose bytes depend on the arrays alone (fixed zip timestamps).

    ``np.savez`` stamps the current time into the archive, so the same data would hash
    differently every time and never be recognised as the same content.
    """
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in sorted(arrays.items()):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            archive.writestr(info, buffer.getvalue())


def builtin_dataset(name: str) -> bytes:
    """The content of a data set that ships inside an installed package, as .npz bytes."""
    if name != "digits":
        raise DatasetFileError(f"unknown built-in dataset {name!r}: the built-in one is 'digits'")
    from sklearn.datasets import load_digits

    digits = load_digits()
    buffer = io.BytesIO()
    write_npz(buffer, x=digits.data.astype(np.float32), y=digits.target.astype(np.int64))
    return buffer.getvalue()
