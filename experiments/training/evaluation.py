"""Judging a trained classifier on its test split, and drawing what people look at: plain
NumPy (and matplotlib, imported only to draw), no Django, no Keras.

The numbers go into the run's ``metrics`` under the keys DESIGN.md names: ``per_class``
(precision, recall, f1 and support per class, by the class's label) and ``confusion_matrix``
(rows: true class, columns: predicted, in the order of the model's classes).
"""

import io

import numpy as np

# Beyond this many classes the matrix is not stored with the run nor drawn: 100 x 100 counts
# is still a table a person reads; 10,000 x 10,000 would be hundreds of MB in a row.
MAX_MATRIX_CLASSES = 100


def confusion_matrix(true_index: np.ndarray, predicted_index: np.ndarray, classes: int):
    """Counts of (true, predicted) pairs, shaped (classes, classes)."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (true_index, predicted_index), 1)
    return matrix


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # A class never predicted (or never present) has no precision (or recall): 0, as
    # scikit-learn reports it, rather than NaN, which JSON cannot hold.
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def evaluate(true_index: np.ndarray, probabilities: np.ndarray, classes: list) -> dict:
    """Per-class precision, recall, F1 and support, the confusion matrix, and their macro and
    support-weighted averages, for class indices ``true_index`` and predicted
    ``probabilities`` (one row per sample, one column per class of ``classes``)."""
    matrix = confusion_matrix(true_index, probabilities.argmax(axis=1), len(classes))
    hits = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    precision = _ratio(hits, matrix.sum(axis=0).astype(np.float64))
    recall = _ratio(hits, support.astype(np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)
    per_class = {
        str(label): {
            "precision": round(float(p), 6),
            "recall": round(float(r), 6),
            "f1": round(float(f), 6),
            "support": int(n),
        }
        for label, p, r, f, n in zip(classes, precision, recall, f1, support, strict=True)
    }
    weights = support / max(int(support.sum()), 1)
    return {
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "macro_f1": round(float(f1.mean()), 6) if len(f1) else 0.0,
        "weighted_f1": round(float((f1 * weights).sum()), 6),
    }


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def curves_png(history: list[dict]) -> bytes:
    """Loss and accuracy per epoch, training and validation, side by side."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    figure = Figure(figsize=(9, 3.5))
    epochs = [row["epoch"] for row in history]
    for axes, metric in zip(figure.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for prefix, label in (("", "training"), ("val_", "validation")):
            values = [row.get(prefix + metric) for row in history]
            if any(v is not None for v in values):
                axes.plot(epochs, values, marker=".", label=label)
        axes.set_xlabel("epoch")
        axes.set_title(metric)
        axes.legend()
    return _png(figure)


def confusion_png(matrix: list[list[int]], classes: list) -> bytes:
    """The confusion matrix as a heat map, counts written in each cell."""
    from matplotlib.figure import Figure

    counts = np.asarray(matrix)
    size = max(3.0, 0.45 * len(classes) + 1.5)
    figure = Figure(figsize=(size, size))
    axes = figure.subplots()
    axes.imshow(counts, cmap="Blues")
    ticks = range(len(classes))
    axes.set_xticks(ticks, [str(c) for c in classes], rotation=90 if len(classes) > 10 else 0)
    axes.set_yticks(ticks, [str(c) for c in classes])
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(classes) <= 30:  # beyond that the numbers only blur the picture
        threshold = counts.max() / 2 if counts.size else 0
        for (row, column), n in np.ndenumerate(counts):
            colour = "white" if n > threshold else "black"
            axes.text(column, row, str(n), ha="center", va="center", color=colour, fontsize=8)
    return _png(figure)
