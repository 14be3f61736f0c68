"""Reading .npz datasets member by member, checking every header before any data is read.

Nothing here calls ``np.load`` or maps the file: ``np.load`` would unpickle object arrays,
trust whatever sizes the archive claims, and answer a truncated file with a parser error;
mapped pages would count in the worker's memory. Members stream through ``zipfile`` instead,
which never yields more than the size its directory declares and checks the CRC at the end.
"""

import math
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import (
    DatasetFileError,
    DatasetReader,
    Limits,
    as_labels,
    check_classes,
    check_shape,
    check_size,
    human_bytes,
)

TRUNCATED = "not a valid .npz file: the archive is truncated or corrupt"
# Deflate cannot compress better than about 1032:1; a member that claims more than this
# ratio and more than the limit is built to exhaust memory, not to hold data.
BOMB_RATIO = 100
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)
MAX_DIRECTORY_BYTES = 1024**2  # some 15,000 members, where a dataset has two or three


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    header_size: int

    @property
    def name(self) -> str:
        return self.info.filename

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize  # Python ints: no overflow


class _CountingReader:
    """Counts the bytes numpy's header functions take, to know where the data starts."""

    def __init__(self, fp):
        self.fp, self.count = fp, 0

    def read(self, size: int = -1) -> bytes:
        data = self.fp.read(size)
        self.count += len(data)
        return data


class NpzReader(DatasetReader):
    def __init__(self, path: Path, limits: Limits):
        self._zip = _open_zip(path)
        try:
            self._members = _read_members(self._zip, limits)
        except BaseException:
            self._zip.close()
            raise
        x, y = self._members["x"], self._members["y"]
        self.samples, self.feature_shape = x.shape[0], x.shape[1:]
        self.dtype = x.dtype.newbyteorder("=")
        self.label_dtype = np.dtype(np.int64) if y.dtype.kind in "bf" else y.dtype
        self._split: np.ndarray | None = None
        self._limits = limits

    def close(self) -> None:
        self._zip.close()

    def _read_labels(self) -> np.ndarray:
        labels = as_labels(self._read_whole(self._members["y"]))
        check_classes(len(np.unique(labels)), self._limits, ": y should hold one class per sample")
        return labels

    def split(self) -> np.ndarray | None:
        member = self._members.get("split")
        if member is None:
            return None
        if self._split is None:
            codes = self._read_whole(member)
            if codes.size and (codes.min() < 0 or codes.max() > 2):
                raise DatasetFileError(
                    "split holds values other than 0 (train), 1 (validation) and 2 (test)"
                )
            self._split = codes.astype(np.int8)
        return self._split

    def _read_whole(self, member: _Member) -> np.ndarray:
        with self._open_data(member) as fp:
            data = _read_exact(fp, member.nbytes)
        return (
            np.frombuffer(data, member.dtype)
            .reshape(member.shape)
            .astype(member.dtype.newbyteorder("="))
        )

    def _feature_chunks(self, rows: int, *, exact: bool) -> Iterator[np.ndarray]:
        member = self._members["x"]
        row_bytes = self.features * member.dtype.itemsize
        with self._open_data(member) as fp:
            for start in range(0, self.samples, rows):
                n = min(rows, self.samples - start)
                data = _read_exact(fp, n * row_bytes)
                chunk = np.frombuffer(data, member.dtype).reshape(n, *self.feature_shape)
                yield chunk.astype(self.dtype, copy=False)

    def _open_data(self, member: _Member):
        """The member opened and positioned after its header."""
        try:
            fp = self._zip.open(member.info)
            _read_exact(fp, member.header_size)
        except _READ_ERRORS as exc:
            raise DatasetFileError(TRUNCATED) from exc
        return fp


def _open_zip(path: Path) -> zipfile.ZipFile:
    _refuse_long_directory(path)
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        # A zip cut short loses its directory, which sits at the end; its start still says zip.
        with open(path, "rb") as fp:
            if fp.read(4) == b"PK\x03\x04":
                raise DatasetFileError(TRUNCATED) from exc
        raise DatasetFileError("not a valid .npz file: it is not a zip archive of arrays") from exc


def _refuse_long_directory(path: Path) -> None:
    """ZipFile builds an object per member up front: a directory of millions is a bomb too.

    ``_EndRecData`` is private to zipfile, but reads only the record at the end of the file
    that gives the directory's size, which nothing public does.
    """
    with open(path, "rb") as fp:
        end = zipfile._EndRecData(fp)
    if end and end[zipfile._ECD_SIZE] > MAX_DIRECTORY_BYTES:
        raise DatasetFileError(
            f"not a valid .npz file: it lists {end[zipfile._ECD_ENTRIES_TOTAL]:,} members; "
            "a dataset holds x, y and perhaps split"
        )


def _read_exact(fp, size: int) -> bytes:
    try:
        data = fp.read(size)
    except _READ_ERRORS as exc:
        raise DatasetFileError(TRUNCATED) from exc
    if len(data) != size:
        raise DatasetFileError(TRUNCATED)
    return data


def _read_members(archive: zipfile.ZipFile, limits: Limits) -> dict[str, _Member]:
    found = {
        info.filename.removesuffix(".npy"): info
        for info in archive.infolist()
        if info.filename.endswith(".npy") and not info.is_dir()
    }
    if not {"x", "y"} <= found.keys():
        held = ", ".join(sorted(archive.namelist())[:20]) or "nothing"
        raise DatasetFileError(
            "an .npz dataset needs arrays named 'x' (features) and 'y' (labels); "
            f"this file holds {held}"
        )
    members = {}
    for name in ("x", "y", "split"):
        if name in found:
            _refuse_bomb(found[name], limits)
            members[name] = _read_header(archive, found[name])
    _check_members(members, limits)
    return members


def _refuse_bomb(info: zipfile.ZipInfo, limits: Limits) -> None:
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > limits.max_uncompressed_bytes and ratio > BOMB_RATIO:
        raise DatasetFileError(
            f"{info.filename} would unpack from {human_bytes(info.compress_size)} to "
            f"{human_bytes(info.file_size)}: it looks like a zip bomb and is refused"
        )


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Member:
    try:
        with archive.open(info) as raw:
            fp = _CountingReader(raw)
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise DatasetFileError(
                    f"{info.filename} uses .npy format version {version}; save it with "
                    "numpy.savez (versions 1.0 and 2.0 are read)"
                )
    except _READ_ERRORS as exc:
        raise DatasetFileError(TRUNCATED) from exc
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, or an unknown compression
        raise DatasetFileError(f"not a valid .npz file: {exc}") from exc
    except ValueError as exc:  # numpy's words for a bad magic string or header
        if isinstance(exc, DatasetFileError):
            raise
        raise DatasetFileError(
            f"not a valid .npz file: {info.filename} is not a saved NumPy array"
        ) from exc
    return _Member(info, tuple(shape), np.dtype(dtype), fortran_order, fp.count)


def _check_members(members: dict[str, _Member], limits: Limits) -> None:
    x, y = members["x"], members["y"]
    for member in members.values():
        if member.dtype.hasobject:
            raise DatasetFileError(
                f"{member.name} holds pickled Python objects, which are never loaded; "
                "save plain numeric arrays"
            )
    _check_x(x)
    if len(y.shape) != 1:
        raise DatasetFileError(f"labels must be one value per sample; y has shape {list(y.shape)}")
    if y.dtype.kind not in "biufU":
        raise DatasetFileError(f"labels must be integers or strings, not {y.dtype}")
    width = y.dtype.itemsize // 4  # characters: NumPy stores each one in 4 bytes
    if y.dtype.kind == "U" and width > limits.max_label_chars:
        raise DatasetFileError(
            f"labels are at most {limits.max_label_chars} characters; y is saved as text "
            f"{width:,} characters wide"
        )
    if x.shape[0] != y.shape[0]:
        raise DatasetFileError(f"{x.shape[0]} feature rows but {y.shape[0]} labels")
    if "split" in members:
        _check_split(members["split"], x.shape[0])
    check_shape(x.shape[0], x.shape[1:], x.dtype.itemsize, limits)
    check_size(sum(member.nbytes for member in members.values()), limits)  # y and split too
    for member in members.values():
        if member.info.file_size != member.header_size + member.nbytes:
            raise DatasetFileError(
                f"not a valid .npz file: {member.name} should hold "
                f"{member.header_size + member.nbytes:,} bytes but the archive says "
                f"{member.info.file_size:,}; the file is corrupt or truncated"
            )


def _check_x(x: _Member) -> None:
    if x.dtype.kind not in "biuf":
        raise DatasetFileError(f"features (x) must be numbers, not {x.dtype}")
    if len(x.shape) < 2:
        raise DatasetFileError(
            f"features need one row per sample (at least 2 dimensions); x has shape {list(x.shape)}"
        )
    if x.fortran_order and x.shape[0] > 1:
        # Column-major data cannot be read a row at a time without unpacking all of it.
        raise DatasetFileError(
            "x is saved in Fortran (column-major) order; save numpy.ascontiguousarray(x)"
        )


def _check_split(split: _Member, samples: int) -> None:
    if len(split.shape) != 1 or split.shape[0] != samples or split.dtype.kind not in "iu":
        raise DatasetFileError(
            "split must hold one integer per sample (0 train, 1 validation, 2 test); "
            f"it has shape {list(split.shape)} and type {split.dtype}"
        )
