"""Judging a classifier on its test split: the numbers, and the pictures."""

import io

import numpy as np
import pytest
from PIL import Image

from experiments.training import evaluation


def one_hot(predicted: list[int], classes: int) -> np.ndarray:
    return np.eye(classes)[predicted]


def test_it_counts_true_classes_in_rows_and_predictions_in_columns():
    matrix = evaluation.confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)

    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_it_gives_precision_recall_f1_and_support_per_class_as_scikit_learn_does():
    from sklearn.metrics import precision_recall_fscore_support

    rng = np.random.default_rng(0)
    true = rng.integers(0, 4, size=200)
    predicted = np.where(rng.random(200) < 0.7, true, rng.integers(0, 4, size=200))

    result = evaluation.evaluate(true, one_hot(predicted, 4), ["a", "b", "c", "d"])

    p, r, f, n = precision_recall_fscore_support(true, predicted, labels=[0, 1, 2, 3])
    for i, label in enumerate("abcd"):
        assert result["per_class"][label] == {
            "precision": pytest.approx(p[i], abs=1e-6),
            "recall": pytest.approx(r[i], abs=1e-6),
            "f1": pytest.approx(f[i], abs=1e-6),
            "support": int(n[i]),
        }
    assert result["macro_f1"] == pytest.approx(f.mean(), abs=1e-6)
    assert np.asarray(result["confusion_matrix"]).sum() == 200


def test_a_class_never_predicted_has_zero_precision_not_nan():
    result = evaluation.evaluate(np.array([0, 1, 1]), one_hot([1, 1, 1], 3), [0, 1, 2])

    assert result["per_class"]["0"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert result["per_class"]["2"]["support"] == 0 and result["per_class"]["2"]["f1"] == 0.0


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).size


def test_it_draws_the_training_curves_and_the_confusion_matrix():
    history = [
        {"epoch": e, "loss": 1 / e, "accuracy": 1 - 1 / (e + 1), "val_loss": 1.2 / e}
        for e in range(1, 6)
    ]

    width, height = _png_size(evaluation.curves_png(history))
    assert width > height > 100

    width, height = _png_size(evaluation.confusion_png([[5, 1], [2, 7]], ["cat", "dog"]))
    assert width > 100 and height > 100
    wide = evaluation.confusion_png(np.eye(40, dtype=int).tolist(), list(range(40)))
    assert _png_size(wide)[0] > width
