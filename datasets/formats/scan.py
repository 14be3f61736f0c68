"""One pass over a dataset's features, shared by checking, describing and fitting recipes."""

from collections.abc import Iterable
from typing import Protocol

import numpy as np

from .base import DatasetFileError, DatasetReader


class Visitor(Protocol):
    def update(self, x: np.ndarray, y: np.ndarray, start: int) -> None: ...
    def finish(self) -> None: ...


def scan(reader: DatasetReader, visitors: Iterable[Visitor], rows: int | None = None) -> None:
    """Read the labels and split (which checks them), then hand every chunk to each visitor."""
    visitors = list(visitors)
    reader.labels()
    reader.split()
    start = 0
    for x, y in reader.batches(rows):
        for visitor in visitors:
            visitor.update(x, y, start)
        start += len(x)
    for visitor in visitors:
        visitor.finish()


def validate(reader: DatasetReader) -> None:
    """Check every value once, in chunks; raise DatasetFileError on bad data."""
    scan(reader, [FiniteCheck()])


class FiniteCheck:
    """Counts NaN and infinite feature values over the whole pass, then refuses any.

    Rows count from 0, as indices into x (a CSV error that names a line counts lines).
    """

    def __init__(self):
        self.count = 0
        self.first_row: int | None = None
        self.per_feature: np.ndarray | None = None  # allocated only once a bad value is seen

    def update(self, x: np.ndarray, y: np.ndarray, start: int) -> None:
        if x.dtype.kind != "f":
            return
        # One cheap pass first: a float64 sum of finite values is finite (float32 data cannot
        # overflow it), and any NaN or infinity makes it not; only then look for where.
        with np.errstate(invalid="ignore", over="ignore"):
            if np.isfinite(np.sum(x, dtype=np.float64)):
                return
        bad = ~np.isfinite(x.reshape(len(x), -1))
        found = int(np.count_nonzero(bad))
        if not found:
            return
        if self.per_feature is None:
            self.per_feature = np.zeros(bad.shape[1], dtype=np.int64)
            self.first_row = start + int(np.flatnonzero(bad.any(axis=1))[0])
        self.per_feature += bad.sum(axis=0)
        self.count += found

    def finish(self) -> None:
        if self.count:
            raise DatasetFileError(
                f"features hold {self.count} values that are NaN or infinite "
                f"(first at row {self.first_row})"
            )


class Moments:
    """Count, min, max, mean and sum of squared deviations per column, in float64.

    Chunks merge with Chan et al.'s pairwise update, which stays accurate where sums of
    squares lose everything to cancellation (large values with a small spread).
    """

    def __init__(self, columns: int):
        self.count = 0
        self.mean = np.zeros(columns)
        self.m2 = np.zeros(columns)
        self.min = np.full(columns, np.inf)
        self.max = np.full(columns, -np.inf)

    def update(self, rows: np.ndarray) -> None:
        """Add rows shaped (n, columns)."""
        if not len(rows):
            return
        # NaN and infinity make numpy warn here; FiniteCheck refuses such data after the pass.
        with np.errstate(invalid="ignore", over="ignore"):
            # min and max on the data as stored: half the bytes of a float64 copy to read.
            self.min = np.minimum(self.min, rows.min(axis=0))
            self.max = np.maximum(self.max, rows.max(axis=0))
            self._merge(rows.astype(np.float64))  # a copy even of float64: changed in place

    def _merge(self, block: np.ndarray) -> None:
        n, mean = len(block), block.mean(axis=0)
        block -= mean
        m2 = np.einsum("ij,ij->j", block, block)  # sum of squares without a squared copy
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * (n / total)
        self.m2 += m2 + delta**2 * (self.count * n / total)
        self.count = total

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.count, 1))
