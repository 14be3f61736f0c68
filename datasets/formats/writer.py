"""Writing .npz files whose bytes depend on the arrays alone.

``np.savez`` stamps the current time into the archive, so the same data would hash
differently every time and never be recognised as the same content. Here every zip field is
fixed, members are stored (not deflated) so chunks stream straight to the file, and zip64
records appear only when a member's size needs them: the same arrays give the same bytes.
"""

import io
import math
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

_EPOCH = (1980, 1, 1, 0, 0, 0)


def npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """The .npy header ``np.save`` would write for an array of this shape and dtype."""
    fields = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": False,
        "shape": tuple(int(d) for d in shape),
    }
    buffer = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buffer, fields)
    except ValueError:  # a header over 64 KB needs version 2.0
        buffer = io.BytesIO()
        np.lib.format.write_array_header_2_0(buffer, fields)
    return buffer.getvalue()


class MemberStream:
    """One array being written in chunks of rows; refuses to end with a different row count."""

    def __init__(self, fp, name: str, shape: tuple[int, ...], dtype: np.dtype):
        self._fp, self.name, self.shape, self.dtype = fp, name, shape, dtype
        self.rows = 0

    def append(self, chunk: np.ndarray) -> None:
        chunk = np.ascontiguousarray(chunk, dtype=self.dtype)
        if chunk.shape[1:] != self.shape[1:]:
            raise ValueError(
                f"{self.name}: chunk rows shaped {chunk.shape[1:]}, declared {self.shape[1:]}"
            )
        if self.rows + len(chunk) > self.shape[0]:
            raise ValueError(f"{self.name}: more than the {self.shape[0]} rows declared")
        self._fp.write(chunk.reshape(-1).view(np.uint8))
        self.rows += len(chunk)

    def __enter__(self) -> "MemberStream":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.close()
        else:
            self._fp.close()  # the archive is abandoned anyway: keep the original error

    def close(self) -> None:
        self._fp.close()
        if self.rows != self.shape[0]:
            raise ValueError(f"{self.name}: {self.rows} rows written, {self.shape[0]} declared")


class NpzWriter:
    """A deterministic, streaming .npz writer.

    >>> with NpzWriter(path) as out:
    ...     with out.stream("x", shape=(n, 64), dtype=np.float32) as x:
    ...         for chunk in chunks:
    ...             x.append(chunk)
    ...     out.write("y", y)
    """

    def __init__(self, out: Path | BinaryIO):
        self._zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def __enter__(self) -> "NpzWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def stream(self, name: str, *, shape: tuple[int, ...], dtype) -> MemberStream:
        """Open member ``name``.npy for ``shape[0]`` rows, to be appended in chunks."""
        shape, dtype = tuple(int(d) for d in shape), np.dtype(dtype)
        return MemberStream(self._open_member(name, shape, dtype), name, shape, dtype)

    def write(self, name: str, array: np.ndarray) -> None:
        """Write a whole array (of any number of dimensions) as member ``name``.npy."""
        array = np.asarray(array)
        data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        with self._open_member(name, array.shape, array.dtype) as fp:
            fp.write(data)

    def _open_member(self, name: str, shape: tuple[int, ...], dtype: np.dtype):
        if dtype.hasobject:
            raise ValueError(f"{name}: object arrays are never written")
        header = npy_header(shape, dtype)
        info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
        info.compress_type = zipfile.ZIP_STORED
        info.create_system = 3  # otherwise it depends on the writer's platform
        info.external_attr = 0o644 << 16
        # Declared up front so zipfile decides on zip64 from the size alone.
        info.file_size = len(header) + math.prod(shape) * dtype.itemsize
        fp = self._zip.open(info, "w")
        fp.write(header)
        return fp


def write_npz(out: Path | BinaryIO, **arrays: np.ndarray) -> None:
    """Write whole arrays, in name order, as a deterministic .npz."""
    with NpzWriter(out) as writer:
        for name, array in sorted(arrays.items()):
            writer.write(name, array)
