"""A PNG grid of the first samples, for datasets whose features are images."""

import io
import math

import numpy as np

from .base import CHUNK_BYTES, DatasetReader

GAP = 2  # pixels between tiles
MIN_TILE = 32  # small images are upscaled to at least this many pixels a side
MAX_TILE = 128  # large ones are subsampled to at most this
COLUMNS = 8
WINDOW = 10  # look at count * WINDOW first rows to find a few samples of each class


def image_shape(feature_shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(height, width, channels) when the features can be drawn as an image, else None."""
    if len(feature_shape) == 1:
        side = math.isqrt(feature_shape[0])
        return (side, side, 1) if side * side == feature_shape[0] and side >= 4 else None
    if len(feature_shape) == 2 and min(feature_shape) >= 4:
        return (*feature_shape, 1)
    if len(feature_shape) == 3 and feature_shape[2] in (1, 3, 4) and min(feature_shape[:2]) >= 4:
        return feature_shape
    return None


def render_thumbnails(reader: DatasetReader, *, count: int = 32) -> bytes | None:
    """PNG bytes of up to ``count`` samples, a few per class, read from the first rows only."""
    shape = image_shape(reader.feature_shape)
    if shape is None or count < 1:
        return None
    bytes_per_row = max(1, reader.features * reader.dtype.itemsize)
    window = max(1, min(reader.samples, count * WINDOW, CHUNK_BYTES // bytes_per_row))
    batches = reader.batches(window)
    try:
        x, y = next(batches)
    finally:
        batches.close()
    picked = _pick(y, count)
    tiles = [_tile(x[i].reshape(shape)) for i in picked]
    return _png(_grid(tiles))


def _pick(labels: np.ndarray, count: int) -> list[int]:
    """Rows taken round-robin across classes (in order of appearance), then grouped by class."""
    _, first, codes = np.unique(labels, return_index=True, return_inverse=True)
    by_class = [list(np.flatnonzero(codes == c)) for c in np.argsort(first)]
    picked: list[list[int]] = [[] for _ in by_class]
    total = 0
    while total < min(count, len(labels)):
        for rows, chosen in zip(by_class, picked, strict=True):
            if len(chosen) < len(rows) and total < count:
                chosen.append(int(rows[len(chosen)]))
                total += 1
    return [row for chosen in picked for row in chosen]


def _tile(image: np.ndarray) -> np.ndarray:
    """Scaled to 0..255 on its own range, then resized by whole factors (nearest neighbour)."""
    image = np.nan_to_num(image.astype(np.float64))
    low, high = image.min(), image.max()
    scaled = (image - low) * (255 / (high - low)) if high > low else np.zeros_like(image)
    side = max(image.shape[:2])
    if side > MAX_TILE:
        step = math.ceil(side / MAX_TILE)
        scaled = scaled[::step, ::step]
    factor = max(1, math.ceil(MIN_TILE / max(scaled.shape[:2])))
    scaled = scaled.repeat(factor, axis=0).repeat(factor, axis=1)
    return scaled.round().astype(np.uint8)


def _grid(tiles: list[np.ndarray]) -> np.ndarray:
    height, width, channels = tiles[0].shape
    columns = min(COLUMNS, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    grid = np.full(
        (rows * (height + GAP) - GAP, columns * (width + GAP) - GAP, channels), 255, np.uint8
    )
    for i, tile in enumerate(tiles):
        top, left = (i // columns) * (height + GAP), (i % columns) * (width + GAP)
        grid[top : top + height, left : left + width] = tile
    return grid


def _png(grid: np.ndarray) -> bytes:
    from PIL import Image  # imported here: only thumbnails need it

    # Pillow reads the mode from the array: (h, w) gray, (h, w, 3) RGB, (h, w, 4) RGBA.
    pixels = grid[:, :, 0] if grid.shape[2] == 1 else grid
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
