"""What ``fit`` and ``predict`` are fed: arrays, or batches read from disk.

Features in memory go to Keras as arrays, as fast as ``fit`` on arrays goes. Features in a
memory-mapped file (a ``np.memmap`` of a whole file, as ``np.load(path, mmap_mode="r")``
returns: data larger than the worker's memory) go as a ``PyDataset`` whose batches are read
from that file with their row indices sorted (so the file is read front to back, a run of
consecutive rows in one read) and put back in the order asked for. They are never converted
or copied whole.

The rows are read with ``pread`` rather than through the mapping: pages touched through a
mapping count in the process's resident memory (RSS, what monitors and memory limits watch)
until the kernel wants them back, and a kernel that maps whole large folios maps megabytes
around every row touched, so a few random batches would show most of the file in RSS. Rows
read into a buffer leave the file's pages in the page cache, outside the process.

Plain Keras and NumPy, like the trainer.
"""

import math
import mmap
import os
from collections.abc import Iterator

import keras
import numpy as np

# Rows per chunk when streaming over a split (the Normalization layer's statistics) and per
# batch when predicting: about this many bytes of float32 features.
CHUNK_BYTES = 4 * 1024**2


def on_disk(x: np.ndarray) -> bool:
    """Whether ``x`` is read from its file batch by batch: a C-ordered ``np.memmap`` of a
    named file, not a view of one (a slice or ``np.asarray`` of a memmap is used like any
    array, its rows copied into memory as Keras needs them)."""
    return (
        isinstance(x, np.memmap)
        and isinstance(x.base, mmap.mmap)
        and x.filename is not None
        and x.flags.c_contiguous
    )


class _Reader:
    """Reads rows of a memory-mapped array from its file."""

    def __init__(self, x: np.memmap):
        self.filename, self.offset, self.x = x.filename, x.offset, x
        self.row_bytes = math.prod(x.shape[1:]) * x.dtype.itemsize

    def rows(self, indices: np.ndarray) -> np.ndarray:
        """``x[indices]`` as float32, in memory, read in file order."""
        order = np.argsort(indices, kind="stable")
        ordered = indices[order]
        read = np.empty((len(indices), *self.x.shape[1:]), dtype=self.x.dtype)
        buffer = memoryview(read.reshape(-1).view(np.uint8))
        # Runs of consecutive rows: [starts[i], ends[i]) in ``ordered``.
        ends = np.append(np.flatnonzero(np.diff(ordered) != 1) + 1, len(ordered))
        starts = np.append(0, ends[:-1])
        with open(self.filename, "rb", buffering=0) as fp:
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
                at = self.offset + int(ordered[start]) * self.row_bytes
                _read_exactly(
                    fp.fileno(), buffer[start * self.row_bytes : end * self.row_bytes], at
                )
        if read.dtype == np.float32 and np.array_equal(ordered, indices):
            return read  # asked for in file order already, as a recorded split's test rows are
        out = np.empty(read.shape, dtype=np.float32)
        out[order] = read
        return out


def _read_exactly(fd: int, into: memoryview, at: int) -> None:
    while len(into):
        got = os.preadv(fd, [into], at)
        if got == 0:
            raise EOFError(f"the features file ends before byte {at + len(into)}")
        into, at = into[got:], at + got


class Rows(keras.utils.PyDataset):
    """``x[rows]`` (with ``y[rows]`` when given) in batches of ``batch_size``, the last one
    partial.

    With a ``seed``, the rows are shuffled again at every epoch (a permutation drawn from the
    seed and the epoch, so a run repeats); without one they come in the order given, as
    ``predict`` needs. A batch size that the replicas divide, over rows that they divide
    (the trainer's ``_even``), gives every batch, the last one too, an even share per device.
    """

    def __init__(
        self,
        x: np.memmap,
        rows: np.ndarray,
        y: np.ndarray | None = None,
        *,
        batch_size: int,
        seed: int | None = None,
    ):
        super().__init__()
        self.reader = _Reader(x)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.y, self.batch_size, self.seed = y, batch_size, seed
        self.epoch = 0
        self.order = self._ordered()

    def _ordered(self) -> np.ndarray:
        if self.seed is None:
            return self.rows
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.rows)

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def __getitem__(self, index: int):
        indices = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        features = self.reader.rows(indices)
        return (features,) if self.y is None else (features, self.y[indices])

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._ordered()


def chunk_rows(x: np.ndarray) -> int:
    """Rows of ``x`` in about ``CHUNK_BYTES`` of float32 (one at least)."""
    return max(1, CHUNK_BYTES // (math.prod(x.shape[1:]) * 4))


def chunks(x: np.ndarray, rows: np.ndarray) -> Iterator[np.ndarray]:
    """``x[rows]`` in float32 chunks of about ``CHUNK_BYTES``, in file order."""
    reader = _Reader(x)
    size = chunk_rows(x)
    ordered = np.sort(rows)
    for start in range(0, len(ordered), size):
        yield reader.rows(ordered[start : start + size])


def moments(x: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    """The mean and variance of every value in ``x[rows]`` (what a ``Normalization`` layer
    with ``axis=None`` adapts to), read a chunk at a time and merged in float64 with Chan et
    al.'s pairwise update, which a large mean with a small spread does not throw off.

    ``Normalization.adapt`` streams too, but not on every backend: given anything but an
    array it looks for TensorFlow's dataset type, and fails where TensorFlow is missing.
    """
    count, mean, m2 = 0, 0.0, 0.0
    for chunk in chunks(x, rows):
        values = chunk.reshape(-1).astype(np.float64)
        n, chunk_mean = values.size, float(values.mean())
        values -= chunk_mean
        total, delta = count + n, chunk_mean - mean
        mean += delta * n / total
        m2 += float(values @ values) + delta**2 * count * n / total
        count = total
    return mean, m2 / count


def fit_data(
    x: np.ndarray, y_index: np.ndarray, split: dict[str, np.ndarray], *, batch_size: int, seed: int
) -> tuple[np.ndarray | tuple[float, float], dict]:
    """What the Normalization layer learns from (the training rows, or their mean and
    variance), and ``fit``'s data arguments."""
    train, validation = split["train"], split["validation"]
    if not on_disk(x):
        x_train = x[train]
        return x_train, {
            "x": x_train,
            "y": y_index[train],
            "validation_data": (x[validation], y_index[validation]) if len(validation) else None,
            "batch_size": batch_size,
        }
    return moments(x, train), {
        "x": Rows(x, train, y_index, batch_size=batch_size, seed=seed),
        "validation_data": (
            Rows(x, validation, y_index, batch_size=batch_size) if len(validation) else None
        ),
        "shuffle": False,  # Rows shuffles the rows at every epoch; fit would shuffle batches
    }


def predict_data(x: np.ndarray, rows: np.ndarray, *, batch_size: int) -> dict:
    """``predict``'s data arguments for ``x[rows]``. Read from disk, a batch holds about
    ``CHUNK_BYTES`` at most, whatever ``batch_size`` says: the outputs do not depend on it,
    and a thousand large rows would not be small."""
    if on_disk(x):
        return {"x": Rows(x, rows, batch_size=min(batch_size, chunk_rows(x)))}
    return {"x": x[rows], "batch_size": batch_size}
