"""What every dataset reader shares: the error, the limits, labels and chunking by bytes."""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# A chunk holds at most this many bytes once converted to float64, so a pass that widens a
# chunk for statistics stays within a few times this, whatever the file's size or dtype.
CHUNK_BYTES = 32 * 1024**2
# Labels are class names: a longer "label" is a wrong column, and costs 4 bytes a character
# for every row once in a NumPy array (its width is the longest label's).
MAX_LABEL_CHARS = 256
MAX_CLASSES = 10_000
MAX_TABLE_COLUMNS = 100_000


class DatasetFileError(ValueError):
    """The file cannot be used as a dataset; the message says why, for people."""


@dataclass(frozen=True)
class Limits:
    max_uncompressed_bytes: int = 8 * 1024**3  # total bytes the arrays declare once unpacked
    max_features: int = 10_000_000  # elements per sample
    max_label_chars: int = MAX_LABEL_CHARS
    max_classes: int = MAX_CLASSES  # distinct labels
    max_table_columns: int = MAX_TABLE_COLUMNS  # CSV and Parquet columns, the label included


DEFAULT_LIMITS = Limits()  # frozen, so one shared default is safe


def human_bytes(size: int) -> str:
    """1536 -> '1.5 KB' (binary units), exact for any Python int."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB", "PB", "EB"):
        value /= 1024
        if value < 1024 or unit == "EB":
            return f"{value:,.1f} {unit}"
    raise AssertionError("unreachable")


def check_shape(
    samples: int,
    feature_shape: tuple[int, ...],
    itemsize: int,
    limits: Limits,
    *,
    label_bytes: int = 0,
) -> None:
    """Refuse shapes that are empty or too big (features and labels together) before anything
    is allocated."""
    features = math.prod(feature_shape)
    if samples == 0:
        raise DatasetFileError("the dataset has no samples")
    if features == 0:
        raise DatasetFileError(f"the samples have no features (shape {list(feature_shape)})")
    if features > limits.max_features:
        raise DatasetFileError(
            f"each sample has {features:,} values, over the limit of {limits.max_features:,}"
        )
    check_size(samples * features * itemsize + label_bytes, limits)


def check_size(total: int, limits: Limits) -> None:
    if total > limits.max_uncompressed_bytes:
        raise DatasetFileError(
            f"the arrays would take {human_bytes(total)} once unpacked, over the limit of "
            f"{human_bytes(limits.max_uncompressed_bytes)}"
        )


def check_classes(distinct: int, limits: Limits, hint: str = "") -> None:
    """Refuse more distinct labels than classes allowed; ``hint`` ends the message."""
    if distinct > limits.max_classes:
        raise DatasetFileError(
            f"the labels hold {distinct:,} distinct values, over the limit of "
            f"{limits.max_classes:,} classes{hint}"
        )


def as_labels(values: np.ndarray) -> np.ndarray:
    """Labels as ints or strings; integral floats (and bools) become int64."""
    kind = values.dtype.kind
    if kind in "iuU":
        return values
    if kind == "b":
        return values.astype(np.int64)
    if kind == "f":
        integral = np.isfinite(values) & (values == np.round(values))
        if integral.all():
            return values.astype(np.int64)
        example = values[~integral][0]
        raise DatasetFileError(f"labels must be integers or strings, not numbers like {example}")
    raise DatasetFileError(f"labels must be integers or strings, not {values.dtype}")


def class_labels(y: np.ndarray) -> list:
    """The sorted distinct labels as JSON values (ints for numbers, else strings)."""
    if y.dtype.kind in "biuf":
        return [int(v) for v in np.unique(y)]
    return [str(v) for v in np.unique(y)]


def rechunk(pieces: Iterator[np.ndarray], rows: int, *, exact: bool) -> Iterator[np.ndarray]:
    """Regroup arrays into chunks of at most ``rows``; of exactly ``rows`` (bar the last)
    when ``exact``. Not exact, small pieces pass through as they are: joining them would
    hold each chunk twice for no gain."""
    pending: list[np.ndarray] = []
    count = 0
    for piece in pieces:
        while len(piece):
            take = min(rows - count, len(piece))
            pending.append(piece[:take])
            count += take
            piece = piece[take:]
            if count == rows or not exact:
                yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                pending, count = [], 0
    if count:
        yield np.concatenate(pending)


class DatasetReader:
    """An open dataset file: shapes known at once, features read chunk by chunk.

    Subclasses set the attributes in ``__init__`` and implement ``_read_labels`` and
    ``_feature_chunks``; ``labels()`` is kept once read, since it is one value per sample.
    """

    samples: int
    feature_shape: tuple[int, ...]
    dtype: np.dtype
    label_dtype: np.dtype
    feature_names: list[str] | None = None
    _labels: np.ndarray | None = None

    def __enter__(self) -> "DatasetReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Release open files; subclasses that hold any override this."""

    @property
    def features(self) -> int:
        """Values per sample (the flattened feature shape)."""
        return math.prod(self.feature_shape)

    def labels(self) -> np.ndarray:
        if self._labels is None:
            self._labels = self._read_labels()
        return self._labels

    def split(self) -> np.ndarray | None:
        return None

    def default_rows(self) -> int:
        return max(1, CHUNK_BYTES // (self.features * 8))

    def batches(self, rows: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(x chunk shaped (n, *feature_shape), y chunk) in file order.

        Chunks may be read-only views of what was read: copy one before changing it.
        """
        exact = rows is not None
        rows = rows or self.default_rows()
        labels = self.labels()
        start = 0
        for x in self._feature_chunks(rows, exact=exact):
            yield x, labels[start : start + len(x)]
            start += len(x)
        if start != self.samples:
            raise DatasetFileError(
                f"the file holds {start} feature rows, not the {self.samples} it declared"
            )

    def _read_labels(self) -> np.ndarray:
        raise NotImplementedError

    def _feature_chunks(self, rows: int, *, exact: bool) -> Iterator[np.ndarray]:
        """Feature rows in chunks of at most ``rows``; of exactly ``rows`` when ``exact``."""
        raise NotImplementedError
