"""Reading CSV and Parquet datasets in batches: one label column, the rest numeric features.

CSV cells are read as float64 whatever the first rows look like: pyarrow guesses a column's
type from its first block, and a column that starts with integers and later holds 1.5 would
otherwise fail half-way through the file.

Memory: pyarrow itself takes about 60 MB once imported. A CSV is parsed in blocks of about
1 MB. A Parquet file is read page by page, but pyarrow keeps a page (and a dictionary) per
column at once: about 3 MB a column, whatever the batch size, so a file with hundreds of
columns in large row groups needs that much.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .base import DatasetFileError, DatasetReader, Limits, as_labels, check_shape, rechunk

# pyarrow parses a CSV in blocks and refuses a row that straddles two, so a block must hold
# a few rows of a wide file; bigger blocks cost memory (several times the block each).
CSV_BLOCK_BYTES = (1024**2, 64 * 1024**2)
PARQUET_BATCH_BYTES = 4 * 1024**2
_CONVERSION = re.compile(r"column #(\d+): Row #(\d+): CSV conversion error to \w+: (.*)")
_RAGGED = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+): (.*)", re.S)


class _TableReader(DatasetReader):
    """What CSV and Parquet share once the column names and labels are known."""

    def _set_columns(self, names: list[str], label_column: str) -> str:
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DatasetFileError(f"the file repeats column names: {', '.join(duplicates)}")
        if label_column not in names:
            raise DatasetFileError(
                f"the file has no label column {label_column!r} (columns: "
                f"{', '.join(names[:20])}{', ...' if len(names) > 20 else ''}); "
                "name the label column"
            )
        self.feature_names = [n for n in names if n != label_column]
        self.feature_shape = (len(self.feature_names),)
        return label_column

    def _set_labels(self, column: pa.ChunkedArray, label_column: str) -> None:
        missing = column.null_count
        if missing:
            raise DatasetFileError(
                f"{missing} rows have no value in the label column {label_column!r}"
            )
        self._labels = _labels_to_numpy(column)
        self.samples, self.label_dtype = len(self._labels), self._labels.dtype

    def _to_numpy(self, batch: pa.RecordBatch, start: int) -> np.ndarray:
        x = np.empty((batch.num_rows, len(self.feature_names)), self.dtype)
        for j, (name, column) in enumerate(zip(self.feature_names, batch.columns, strict=True)):
            if column.null_count and not pa.types.is_floating(column.type):
                row = start + int(np.flatnonzero(column.is_null().to_numpy(False))[0])
                raise DatasetFileError(
                    f"feature column {name!r} has {column.null_count} empty cells "
                    f"(first at row {row})"
                )
            x[:, j] = column.to_numpy(zero_copy_only=False)
        return x

    def _chunks_from(
        self, batches: Iterator[pa.RecordBatch], rows: int, exact: bool
    ) -> Iterator[np.ndarray]:
        def pieces():
            start = 0
            for batch in batches:
                yield self._to_numpy(batch, start)
                start += batch.num_rows

        return rechunk(pieces(), rows, exact=exact)


class ParquetReader(_TableReader):
    def __init__(self, path: Path, label_column: str, limits: Limits):
        # Streamed in small reads, not each column chunk fetched whole up front.
        self._file = _guard(lambda: pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 16))
        try:
            self._read_schema(label_column, limits)
        except BaseException:
            self._file.close()
            raise

    def _read_schema(self, label_column: str, limits: Limits) -> None:
        schema = self._file.schema_arrow
        label = self._set_columns(schema.names, label_column)
        dtypes = [_numeric_dtype(schema.field(name)) for name in self.feature_names]
        self.dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
        column = _guard(lambda: self._file.read(columns=[label], use_threads=False).column(0))
        self._set_labels(column, label)
        check_shape(self.samples, self.feature_shape, self.dtype.itemsize, limits)

    def close(self) -> None:
        self._file.close()

    def _feature_chunks(self, rows: int, *, exact: bool) -> Iterator[np.ndarray]:
        small = max(1, PARQUET_BATCH_BYTES // (8 * self.features))
        batches = self._file.iter_batches(
            batch_size=min(rows, small), columns=self.feature_names, use_threads=False
        )
        return self._chunks_from(_guarded(batches, "parquet"), rows, exact)


class CsvReader(_TableReader):
    """Opening reads the label column through once: a CSV says nowhere how many rows it has."""

    dtype = np.dtype(np.float64)

    def __init__(self, path: Path, label_column: str, limits: Limits):
        self._path, self._block = path, _block_size(path)
        with _csv_errors(None):
            names = _open_csv(path, self._block, skip_ragged=True).schema.names
        label = self._set_columns(names, label_column)
        with _csv_errors(None):
            stream = _open_csv(path, self._block, columns={label: pa.string()})
            column = pa.chunked_array([b.column(0) for b in stream], type=pa.string())
        self._set_labels(column, label)
        check_shape(self.samples, self.feature_shape, self.dtype.itemsize, limits)

    def _feature_chunks(self, rows: int, *, exact: bool) -> Iterator[np.ndarray]:
        with _csv_errors(self.feature_names):
            types = dict.fromkeys(self.feature_names, pa.float64())
            stream = _open_csv(self._path, self._block, columns=types)
            yield from self._chunks_from(_guarded(stream, "csv", self), rows, exact)


def _block_size(path: Path) -> int:
    """Sixteen times the header line: rows of numbers are rarely much longer than it."""
    smallest, largest = CSV_BLOCK_BYTES
    with open(path, "rb") as fp:
        header = fp.readline(largest)
    return min(max(16 * len(header), smallest), largest)


def _open_csv(path: Path, block: int, *, columns: dict | None = None, skip_ragged=False):
    return pcsv.open_csv(
        path,
        # One thread: only then does pyarrow say which line an error is on.
        read_options=pcsv.ReadOptions(use_threads=False, block_size=block),
        parse_options=pcsv.ParseOptions(
            invalid_row_handler=(lambda row: "skip") if skip_ragged else None
        ),
        convert_options=pcsv.ConvertOptions(
            include_columns=list(columns or ()),
            column_types=columns or {},
            strings_can_be_null=True,
        ),
    )


@contextmanager
def _csv_errors(feature_names: list[str] | None):
    """Turn pyarrow's CSV errors into messages that name the column and line."""
    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        raise _csv_error(str(exc), feature_names) from exc


def _csv_error(message: str, feature_names: list[str] | None) -> DatasetFileError:
    if message.startswith("Empty CSV file"):
        return DatasetFileError("the file is empty")
    if match := _RAGGED.search(message):
        line, expected, got, text = match.groups()
        return DatasetFileError(
            f"line {line} has {got} values but the header names {expected} columns: "
            f"{text.strip()[:80]!r}"
        )
    if (match := _CONVERSION.search(message)) and feature_names is not None:
        # pyarrow numbers the columns it was asked for, in file order: the features.
        index, line, detail = int(match[1]), match[2], match[3]
        name = feature_names[index] if index < len(feature_names) else f"#{index}"
        value = detail.removeprefix("invalid value ")
        return DatasetFileError(
            f"feature column {name!r} holds text, not numbers: {value} on line {line}"
        )
    return DatasetFileError(f"not a valid .csv file: {message}")


def _guarded(batches, fmt: str, reader: CsvReader | None = None) -> Iterator:
    """Re-raise pyarrow's errors met while iterating, without wrapping the yield itself."""
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            if reader is not None:
                raise _csv_error(str(exc), reader.feature_names) from exc
            raise DatasetFileError(f"not a valid .{fmt} file: {exc}") from exc
        yield batch


def _guard(read):
    try:
        return read()
    except (pa.ArrowException, OSError) as exc:
        raise DatasetFileError(f"not a valid .parquet file: {exc}") from exc


def _numeric_dtype(field: pa.Field) -> np.dtype:
    kind = field.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return np.dtype(kind.to_pandas_dtype())
    raise DatasetFileError(f"feature column {field.name!r} holds {kind}, not numbers")


def _labels_to_numpy(column: pa.ChunkedArray) -> np.ndarray:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return as_labels(column.to_numpy())
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise DatasetFileError(f"labels must be integers or strings, not {kind}")
    # CSV labels arrive as text: numbers written as text are still numbers.
    for numeric in (pa.int64(), pa.float64()):
        try:
            return as_labels(pc.cast(column, numeric).to_numpy())
        except pa.ArrowInvalid:
            continue
    # Through a dictionary: a few distinct strings, not a Python object per row.
    encoded = pc.dictionary_encode(column).combine_chunks()
    names = encoded.dictionary.to_numpy(zero_copy_only=False).astype(str)
    return names[encoded.indices.to_numpy(zero_copy_only=False)]
