"""What a dataset is (schema), what its values look like (stats) and its first rows (preview).

Everything comes out of one chunked pass, which also validates, so ingesting a file reads it
once. Every value in the result is a plain Python type, ready for a JSON field.
"""

from dataclasses import dataclass

import numpy as np

from .base import DatasetReader, class_labels
from .scan import FiniteCheck, Moments, scan

FEATURES_SHOWN = 256  # per-feature stats listed; wider data also gets distributions
PREVIEW_COLUMNS = 20
# Per-feature moments cost 40 bytes a feature; past this width only the shown ones are kept.
MAX_TRACKED = 1_000_000
SPLIT_NAMES = ("train", "validation", "test")


@dataclass
class Description:
    schema: dict
    stats: dict
    preview: dict


def describe(reader: DatasetReader, *, preview_rows: int = 10) -> Description:
    """Describe and validate in one pass; raise DatasetFileError on bad data."""
    moments = _FeatureMoments(reader.features)
    finite = FiniteCheck()
    preview = _Preview(preview_rows)
    scan(reader, [moments, finite, preview])
    labels, split = reader.labels(), reader.split()
    return Description(
        schema=_schema(reader, labels, split),
        stats=_stats(reader, moments, finite, labels),
        preview=preview.result(reader, labels),
    )


def json_labels(values: np.ndarray) -> list:
    return [str(v) if isinstance(v, str) else int(v) for v in values.tolist()]


def _schema(reader: DatasetReader, labels: np.ndarray, split: np.ndarray | None) -> dict:
    classes, counts = class_labels(labels), np.unique(labels, return_counts=True)[1]
    names = reader.feature_names
    schema = {
        "samples": int(reader.samples),
        "feature_shape": [int(d) for d in reader.feature_shape],
        "dtype": str(reader.dtype),
        "label_dtype": str(reader.label_dtype),
        "classes": classes,
        "num_classes": len(classes),
        "class_counts": {str(c): int(n) for c, n in zip(classes, counts, strict=True)},
        # Names of the features shown, as in stats: a table may have 100,000 columns.
        "feature_names": names[:FEATURES_SHOWN] if names is not None else None,
    }
    if names is not None and len(names) > FEATURES_SHOWN:
        schema["feature_names_omitted"] = len(names) - FEATURES_SHOWN
    if split is not None:
        sizes = np.bincount(split, minlength=3)
        schema["split_sizes"] = {name: int(n) for name, n in zip(SPLIT_NAMES, sizes, strict=True)}
    return schema


class _FeatureMoments:
    def __init__(self, features: int):
        self.tracked = features if features <= MAX_TRACKED else FEATURES_SHOWN
        self.per_feature = Moments(self.tracked)
        # Only needed when some features go untracked; else derived from per_feature.
        self.overall = Moments(1) if self.tracked < features else None

    def update(self, x: np.ndarray, y: np.ndarray, start: int) -> None:
        flat = x.reshape(len(x), -1)
        self.per_feature.update(flat[:, : self.tracked])
        if self.overall is not None:
            self.overall.update(flat.reshape(-1, 1))

    def finish(self) -> None:
        pass

    def overall_stats(self) -> dict:
        if self.overall is not None:
            m = self.overall
            return _four(m.min[0], m.max[0], m.mean[0], m.std[0])
        m = self.per_feature
        mean = m.mean.mean()
        # Pooled variance over equal-sized columns: within plus between column spread.
        m2 = m.m2.sum() + m.count * np.square(m.mean - mean).sum()
        return _four(m.min.min(), m.max.max(), mean, np.sqrt(m2 / (m.count * len(m.mean))))


def _four(low, high, mean, std) -> dict:
    return {"min": float(low), "max": float(high), "mean": float(mean), "std": float(std)}


def _stats(reader, moments: _FeatureMoments, finite: FiniteCheck, labels: np.ndarray) -> dict:
    overall = moments.overall_stats()
    classes, counts = np.unique(labels, return_counts=True)
    stats = {
        "overall": overall,
        **overall,  # top-level copies, for readers of the older, flat stats
        "features": _feature_entries(reader, moments.per_feature, finite),
        "features_shown": min(reader.features, FEATURES_SHOWN),
        "features_total": reader.features,
        "missing": int(finite.count),
        "class_balance": {
            str(c): round(int(n) / len(labels), 6) for c, n in zip(classes, counts, strict=True)
        },
    }
    if reader.features > FEATURES_SHOWN:
        stats["summary"] = _summary(moments, reader.features)
    return stats


def _feature_entries(reader, m: Moments, finite: FiniteCheck) -> list[dict]:
    shown, std = min(reader.features, FEATURES_SHOWN), m.std
    missing = finite.per_feature if finite.per_feature is not None else np.zeros(shown, int)
    entries = []
    for j in range(shown):
        entry = {"index": j, **_four(m.min[j], m.max[j], m.mean[j], std[j])}
        entry["missing"] = int(missing[j])
        if reader.feature_names is not None:
            entry["name"] = reader.feature_names[j]
        entries.append(entry)
    return entries


def _summary(moments: _FeatureMoments, features: int) -> dict:
    """How the per-feature statistics are spread over all the features."""
    if moments.tracked < features:
        return {"note": f"per-feature distributions are kept for at most {MAX_TRACKED:,} features"}
    m = moments.per_feature
    return {
        "mean": _spread(m.mean),
        "std": _spread(m.std),
        "min": _spread(m.min),
        "max": _spread(m.max),
        "constant_features": int(np.count_nonzero(m.max == m.min)),
    }


def _spread(values: np.ndarray) -> dict:
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "max": float(values.max()),
    }


class _Preview:
    """Keeps the first rows (and at most PREVIEW_COLUMNS of their values) as they go by."""

    def __init__(self, rows: int):
        self.rows = rows
        self.kept: list[np.ndarray] = []
        self.count = 0

    def update(self, x: np.ndarray, y: np.ndarray, start: int) -> None:
        if self.count < self.rows:
            take = x[: self.rows - self.count].reshape(-1, int(np.prod(x.shape[1:])))
            self.kept.append(take[:, :PREVIEW_COLUMNS].copy())
            self.count += len(take)

    def finish(self) -> None:
        pass

    def result(self, reader: DatasetReader, labels: np.ndarray) -> dict:
        shown = min(reader.features, PREVIEW_COLUMNS)
        names = reader.feature_names or [f"f{j}" for j in range(shown)]
        rows = np.concatenate(self.kept) if self.kept else np.empty((0, shown))
        return {
            "columns": names[:shown],
            "omitted_columns": reader.features - shown,
            "rows": [[_cell(v) for v in row] for row in rows.tolist()],
            "labels": json_labels(labels[: len(rows)]),
        }


def _cell(value):
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return int(value)
