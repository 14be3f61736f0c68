"""Submit-time checks of architectures and hyperparameters (plain Python, no Keras)."""

import pytest

from experiments.training.hyperparameters import (
    ARCHITECTURES,
    HyperparameterError,
    check_input_shape,
    resolve_hyperparameters,
)


def test_defaults_keep_adam_a_constant_rate_and_no_early_stopping():
    hp = resolve_hyperparameters("mlp", {})

    assert hp["optimizer"] == "adam" and hp["lr_schedule"] == "constant"
    assert hp["early_stopping_patience"] == 0 and hp["learning_rate"] == 1e-3


def test_choices_and_new_numbers_are_taken_and_survive_a_second_resolution():
    given = {"optimizer": " sgd", "momentum": "0.5", "lr_schedule": "cosine"}
    given["early_stopping_patience"] = "3"

    hp = resolve_hyperparameters("mlp", given)

    assert (hp["optimizer"], hp["momentum"], hp["lr_schedule"]) == ("sgd", 0.5, "cosine")
    assert hp["early_stopping_patience"] == 3
    # the runner resolves the stored hyperparameters again before training
    assert resolve_hyperparameters("mlp", hp) == hp


def test_settings_of_another_optimizer_are_accepted_and_ignored():
    hp = resolve_hyperparameters("mlp", {"optimizer": "adam", "momentum": 0.2})

    assert hp["momentum"] == 0.2  # only sgd reads it; sweeps may cross the two freely


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"optimizer": "rmsprop"}, "optimizer must be one of adam, sgd, adamw, got 'rmsprop'"),
        ({"optimizer": "Adam"}, "optimizer must be one of adam, sgd, adamw"),
        ({"optimizer": 1}, "optimizer must be one of"),
        ({"optimizer": None}, "optimizer must be one of"),
        ({"lr_schedule": "linear"}, "lr_schedule must be one of constant, cosine, step"),
        ({"early_stopping_patience": 101}, "early_stopping_patience must be between 0 and 100"),
        ({"early_stopping_patience": -1}, "early_stopping_patience must be between 0 and 100"),
        ({"early_stopping_patience": 2.5}, "early_stopping_patience must be a whole number"),
        ({"early_stopping_patience": "soon"}, "early_stopping_patience must be a number"),
        ({"momentum": 1}, "momentum must be between 0.0 and 0.99"),
        ({"weight_decay": 0.5}, "weight_decay must be between 0.0 and 0.1"),
        ({"lr_decay_rate": 0}, "lr_decay_rate must be between"),
        (
            {"lr_schedule": "step", "epochs": 5},
            r"lr_decay_epochs \(10\) epochs, which must be fewer than epochs \(5\)",
        ),
    ],
)
def test_bad_choices_and_ranges_are_refused_with_what_is_allowed(given, message):
    with pytest.raises(HyperparameterError, match=message):
        resolve_hyperparameters("mlp", given)


def test_a_step_schedule_is_checked_only_when_chosen():
    hp = resolve_hyperparameters("mlp", {"epochs": 5, "lr_decay_epochs": 10})

    assert hp["lr_schedule"] == "constant"


def test_linear_is_a_baseline_with_only_the_common_hyperparameters():
    assert "linear" in ARCHITECTURES
    assert resolve_hyperparameters("linear", {"dropout": 0})["dropout"] == 0
    with pytest.raises(HyperparameterError, match="unknown hyperparameter 'hidden_units'"):
        resolve_hyperparameters("linear", {"hidden_units": 8})


def test_linear_takes_features_of_any_shape():
    for shape in ([6], [8, 8, 1], [3, 4]):
        check_input_shape("linear", shape)


def test_an_unknown_architecture_lists_linear():
    with pytest.raises(HyperparameterError, match="cnn, linear, mlp"):
        resolve_hyperparameters("resnet", {})
