"""Reading CSV and Parquet datasets in batches: one label column, the rest numeric features.

CSV cells are read as float64 whatever the first rows look like: pyarrow guesses a column's
type from its first block, and a column that starts with integers and later holds 1.5 would
otherwise fail half-way through the file.

Memory: pyarrow itself takes about 60 MB once imported. A CSV is parsed in blocks of about
1 MB. A Parquet file is read page by page, but pyarrow keeps a page (and a dictionary) per
column at once: about 3 MB a column, whatever the batch size, so a file with hundreds of
columns in large row groups needs that much.

Labels are checked as Arrow arrays, where text is compact (and a Parquet dictionary stays one),
before they become a NumPy array four bytes a character wide for every row: too long a label,
too many classes or too many columns is refused first.
"""

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .base import (
    DatasetFileError,
    DatasetReader,
    Limits,
    as_labels,
    check_classes,
    check_shape,
    human_bytes,
    rechunk,
)

# pyarrow parses a CSV in blocks and refuses a row that straddles two, so a block must hold
# a few rows of a wide file; bigger blocks cost memory (several times the block each).
CSV_BLOCK_BYTES = (1024**2, 64 * 1024**2)
CSV_HEADER_BYTES = 16 * 1024**2  # the longest header line read, to count the columns
PARQUET_BATCH_BYTES = 4 * 1024**2
_CONVERSION = re.compile(r"column #(\d+): Row #(\d+): CSV conversion error to \w+: (.*)")
_RAGGED = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+): (.*)", re.S)


class _TableReader(DatasetReader):
    """What CSV and Parquet share once the column names and labels are known."""

    def _set_columns(self, names: list[str], label_column: str) -> str:
        duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
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

    def _set_labels(self, column: pa.ChunkedArray, label_column: str, limits: Limits) -> None:
        """Check the labels (and, now that the row count is known, the size), then keep them."""
        missing = column.null_count
        if missing:
            raise DatasetFileError(
                f"{missing} rows have no value in the label column {label_column!r}"
            )
        longest = _check_label_chars(column.chunks, label_column, limits)
        self.samples = len(column)
        width = max(4 * longest, 8) if _is_text(column.type) else 8  # bytes a label in NumPy
        check_shape(
            self.samples,
            self.feature_shape,
            self.dtype.itemsize,
            limits,
            label_bytes=self.samples * width,
        )
        values = _typed_labels(column)
        numbers = as_labels(values.to_numpy()) if not _is_text(values.type) else None
        hint = f": is {label_column!r} the right column?"
        check_classes(pc.count_distinct(values).as_py(), limits, hint)
        self._labels = numbers if numbers is not None else _text_to_numpy(values)
        self.label_dtype = self._labels.dtype

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
        self._path = path
        self._file = _guard(lambda: _open_parquet(path, limits), limits)
        try:
            self._read_schema(label_column, limits)
        except BaseException:
            self._file.close()
            raise

    def _read_schema(self, label_column: str, limits: Limits) -> None:
        metadata = self._file.metadata
        _check_column_count(metadata.num_columns, limits)
        schema = self._file.schema_arrow
        label = self._set_columns(schema.names, label_column)
        dtypes = [_numeric_dtype(schema.field(name)) for name in self.feature_names]
        self.dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
        # The footer gives the row count: a file too large is refused before its labels are read.
        rows = metadata.num_rows
        check_shape(rows, self.feature_shape, self.dtype.itemsize, limits, label_bytes=8 * rows)
        self._set_labels(self._read_label_column(label, limits), label, limits)

    def _read_label_column(self, label: str, limits: Limits) -> pa.ChunkedArray:
        # Text read as a dictionary: a long label on every row is held once, not once a row.
        labels = _guard(
            lambda: _open_parquet(
                self._path, limits, metadata=self._file.metadata, read_dictionary=[label]
            )
        )
        try:
            return _guard(lambda: labels.read(columns=[label], use_threads=False).column(0))
        finally:
            labels.close()

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
        header = _header_line(path, limits)
        self._path, self._block = path, _block_size(header)
        with _csv_errors(None):
            names = _open_csv(path, self._block, skip_ragged=True).schema.names
        label = self._set_columns(names, label_column)
        self._set_labels(self._read_label_column(label, limits), label, limits)

    def _read_label_column(self, label: str, limits: Limits) -> pa.ChunkedArray:
        chunks = []
        with _csv_errors(None):
            for batch in _open_csv(self._path, self._block, columns={label: pa.string()}):
                # Block by block, so a file of long "labels" is refused before it is all read.
                _check_label_chars([batch.column(0)], label, limits)
                chunks.append(batch.column(0))
        return pa.chunked_array(chunks, type=pa.string())

    def _feature_chunks(self, rows: int, *, exact: bool) -> Iterator[np.ndarray]:
        with _csv_errors(self.feature_names):
            types = dict.fromkeys(self.feature_names, pa.float64())
            stream = _open_csv(self._path, self._block, columns=types)
            yield from self._chunks_from(_guarded(stream, "csv", self), rows, exact)


def _header_line(path: Path, limits: Limits) -> bytes:
    """The first line, read on its own and counted before pyarrow builds a schema from it."""
    line = bytearray()
    with open(path, "rb") as fp:
        while piece := fp.read(64 * 1024):
            ends = [i for i in (piece.find(b"\n"), piece.find(b"\r")) if i >= 0]
            line += piece[: min(ends)] if ends else piece
            if len(line) > CSV_HEADER_BYTES:
                raise DatasetFileError(
                    f"the first line is longer than {human_bytes(CSV_HEADER_BYTES)}: a CSV "
                    "file starts with one line of column names"
                )
            if ends:
                break
    _check_column_count(_csv_columns(bytes(line)), limits)
    return bytes(line)


def _csv_columns(header: bytes) -> int:
    """Columns in a CSV header line: commas outside double quotes, plus one."""
    data = np.frombuffer(header, np.uint8)
    # Odd where a quoted name is open; a doubled quote inside one closes and reopens it.
    quoted = np.bitwise_xor.accumulate(data == ord('"')) if len(data) else data
    return int(np.count_nonzero((data == ord(",")) & ~quoted.astype(bool))) + 1


def _check_column_count(columns: int, limits: Limits) -> None:
    if columns > limits.max_table_columns:
        raise DatasetFileError(
            f"the file has {columns:,} columns, over the limit of {limits.max_table_columns:,}"
        )


def _block_size(header: bytes) -> int:
    """Sixteen times the header line: rows of numbers are rarely much longer than it."""
    smallest, largest = CSV_BLOCK_BYTES
    return min(max(16 * (len(header) + 2), smallest), largest)


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


def _open_parquet(path: Path, limits: Limits, **options) -> pq.ParquetFile:
    # Streamed in small reads, not each column chunk fetched whole up front. The footer's
    # lists (columns, row groups) are capped as it is parsed: a footer of millions of columns
    # would take gigabytes before its column count could be checked.
    return pq.ParquetFile(
        path,
        pre_buffer=False,
        buffer_size=1 << 16,
        thrift_container_size_limit=2 * limits.max_table_columns + 16,
        **options,
    )


def _guard(read, limits: Limits | None = None):
    try:
        return read()
    except (pa.ArrowException, OSError) as exc:
        if limits is not None and "Exceeded size limit" in str(exc):
            raise DatasetFileError(
                "not a valid .parquet file: its metadata lists more columns or row groups than "
                f"can be read (the limit is {limits.max_table_columns:,} columns)"
            ) from exc
        raise DatasetFileError(f"not a valid .parquet file: {exc}") from exc


def _numeric_dtype(field: pa.Field) -> np.dtype:
    kind = field.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return np.dtype(kind.to_pandas_dtype())
    raise DatasetFileError(f"feature column {field.name!r} holds {kind}, not numbers")


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _longest_label(array: pa.Array) -> int:
    """Characters in the longest text value (0 for numbers), without decoding a dictionary."""
    if not _is_text(array.type):
        return 0
    if pa.types.is_dictionary(array.type):
        # Only the values rows use: a dictionary may hold others.
        lengths = pc.take(pc.utf8_length(array.dictionary), array.indices)
    else:
        lengths = pc.utf8_length(array)
    return pc.max(lengths).as_py() or 0


def _check_label_chars(arrays, label_column: str, limits: Limits) -> int:
    """The longest label's length in characters; refused past ``max_label_chars``."""
    longest = max((_longest_label(array) for array in arrays), default=0)
    if longest > limits.max_label_chars:
        raise DatasetFileError(
            f"labels are at most {limits.max_label_chars} characters; the longest here has "
            f"{longest:,}: is {label_column!r} the right column?"
        )
    return longest


def _typed_labels(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Labels as numbers or plain text, still in Arrow."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return column
    if not _is_text(kind):
        raise DatasetFileError(f"labels must be integers or strings, not {kind}")
    # CSV labels arrive as text: numbers written as text are still numbers.
    for numeric in (pa.int64(), pa.float64()):
        try:
            return pc.cast(column, numeric)
        except pa.ArrowInvalid:
            continue
    return column


def _text_to_numpy(column: pa.ChunkedArray) -> np.ndarray:
    # Through a dictionary: a few distinct strings, not a Python object per row.
    encoded = pc.dictionary_encode(column).combine_chunks()
    names = encoded.dictionary.to_numpy(zero_copy_only=False).astype(str)
    return names[encoded.indices.to_numpy(zero_copy_only=False)]
