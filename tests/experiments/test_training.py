"""The pure Keras training core: arrays in, a model and metrics out."""

import numpy as np
import pytest

from experiments.training import trainer
from experiments.training.hyperparameters import (
    HyperparameterError,
    check_input_shape,
    resolve_hyperparameters,
)


def blobs(n_per_class=40, classes=3, features=6, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    x = rng.normal(size=(len(y), features)).astype(np.float32) + y[:, None] * 3
    return x, y


def test_defaults_fill_in_what_is_not_given():
    hp = resolve_hyperparameters("mlp", {"epochs": "7", "learning_rate": 0.01})

    assert hp["epochs"] == 7 and isinstance(hp["epochs"], int)
    assert hp["learning_rate"] == 0.01 and hp["hidden_units"] == 128


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"epochs": "NaN"}, "finite"),
        ({"epochs": None}, "must be a number"),
        ({"epochs": [3]}, "must be a number"),
        ({"epochs": 0}, "between 1"),
        ({"validation_fraction": 0.5, "test_fraction": 0.45}, "below 0.9"),
        ("epochs=3", "must be an object"),
    ],
)
def test_bad_hyperparameters_are_named(given, message):
    with pytest.raises(HyperparameterError, match=message):
        resolve_hyperparameters("mlp", given)


def test_a_cnn_needs_image_shaped_features():
    check_input_shape("cnn", [8, 8, 1])
    with pytest.raises(HyperparameterError, match="reshape it first"):
        check_input_shape("cnn", [64])


def test_the_split_is_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(4), 50)

    split = trainer.stratified_split(labels, validation=0.2, test=0.1, seed=3)
    again = trainer.stratified_split(labels, validation=0.2, test=0.1, seed=3)

    every = np.concatenate(list(split.values()))
    assert sorted(every.tolist()) == list(range(200))
    assert [len(split[k]) for k in ("train", "validation", "test")] == [140, 40, 20]
    assert np.bincount(labels[split["test"]]).tolist() == [5, 5, 5, 5]
    assert all(np.array_equal(split[k], again[k]) for k in split)


def test_a_class_with_one_sample_still_trains():
    split = trainer.stratified_split(np.array([0, 0, 0, 0, 1]), validation=0.3, test=0.3, seed=0)

    assert 4 in split["train"]


def test_an_mlp_learns_separable_data_and_reports_each_epoch():
    x, y = blobs()
    seen = []

    result = trainer.train(
        x,
        y,
        architecture="mlp",
        hyperparameters={"epochs": 4, "learning_rate": 0.01},
        on_epoch=lambda epoch, metrics: seen.append((epoch, sorted(metrics))),
    )

    assert [epoch for epoch, _ in seen] == [1, 2, 3, 4]
    assert seen[0][1] == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert result.test_metrics["test_accuracy"] > 0.9
    assert result.classes == [0, 1, 2] and result.input_shape == [6]
    probabilities = np.asarray(result.model(x[:5], training=False))
    assert probabilities.shape == (5, 3)


def test_string_labels_are_kept_as_the_model_classes():
    x, y = blobs(classes=2)
    names = np.array(["cat", "dog"])[y]

    result = trainer.train(x, names, architecture="mlp", hyperparameters={"epochs": 1})

    assert result.classes == ["cat", "dog"]


def test_a_cnn_trains_on_images():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 20)
    x = rng.normal(size=(40, 8, 8, 1)).astype(np.float32) + y[:, None, None, None] * 2

    result = trainer.train(x, y, architecture="cnn", hyperparameters={"epochs": 2, "filters": 4})

    assert result.input_shape == [8, 8, 1] and "test_accuracy" in result.test_metrics


def test_should_stop_ends_training_at_the_next_batch():
    x, y = blobs()
    calls = []

    def stop_after_three_batches():
        calls.append(1)
        return len(calls) >= 3

    result = trainer.train(
        x,
        y,
        architecture="mlp",
        hyperparameters={"epochs": 50, "batch_size": 4},
        should_stop=stop_after_three_batches,
    )

    assert result.cancelled and len(calls) == 3
    assert len(result.history) == 1  # Keras still closes the interrupted epoch
    assert result.test_metrics == {}
