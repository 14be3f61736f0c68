"""Expanding a sweep's space into runs: plain Python, checked before anything exists."""

import pytest

from experiments.training.sweep_space import SweepSpaceError, expand, metric_goal


def test_lists_are_crossed_into_a_grid_and_single_values_kept_for_every_run():
    space = {"learning_rate": [0.001, 0.01], "hidden_units": [64, 128, 256], "epochs": 5}

    expanded = expand("mlp", space, max_runs=20)

    assert expanded.grid_size == 6 and len(expanded.runs) == 6
    points = {(hp["learning_rate"], hp["hidden_units"]) for hp in expanded.runs}
    assert points == {(lr, h) for lr in (0.001, 0.01) for h in (64, 128, 256)}
    assert all(hp["epochs"] == 5 and hp["batch_size"] == 32 for hp in expanded.runs)


def test_random_draws_distinct_points_of_the_grid_and_the_seed_repeats_them():
    space = {"learning_rate": [0.001, 0.003, 0.01, 0.03], "hidden_units": [32, 64, 128]}

    first = expand("mlp", space, random=5, seed=7, max_runs=20).runs
    again = expand("mlp", space, random=5, seed=7, max_runs=20).runs
    other = expand("mlp", space, random=5, seed=8, max_runs=20).runs

    points = [(hp["learning_rate"], hp["hidden_units"]) for hp in first]
    assert len(set(points)) == 5
    assert first == again and first != other


def test_random_samples_a_grid_far_larger_than_any_sweep_without_building_it():
    space = {name: list(range(1, 101)) for name in ("hidden_units", "epochs", "batch_size")}
    space["seed"] = list(range(100))

    expanded = expand("mlp", space, random=3, seed=1, max_runs=20)

    assert expanded.grid_size == 100**4 and len(expanded.runs) == 3


def test_values_are_coerced_as_a_single_run_would_be():
    (hp,) = expand("mlp", {"epochs": ["3"], "optimizer": " sgd "}, max_runs=5).runs

    assert hp["epochs"] == 3 and hp["optimizer"] == "sgd"


@pytest.mark.parametrize(
    ("space", "kwargs", "message"),
    [
        ({}, {}, "the space must be an object"),
        ([0.1], {}, "the space must be an object"),
        ({"nesterov": [True]}, {}, "unknown hyperparameter 'nesterov'"),
        ({"hidden_units": [8]}, {"architecture": "linear"}, "unknown hyperparameter"),
        ({"learning_rate": []}, {}, r"space.learning_rate is an empty list"),
        ({"learning_rate": [0.01, "fast"]}, {}, r"space.learning_rate\[1\]: .*must be a number"),
        ({"learning_rate": "fast"}, {}, r"space.learning_rate: .*must be a number"),
        ({"epochs": [True]}, {}, "must be a number"),
        ({"epochs": [[1, 2]]}, {}, "takes a single value"),
        ({"epochs": [{"min": 1}]}, {}, "takes a single value"),
        ({"epochs": [2, 2.0]}, {}, "lists 2 more than once"),
        ({"learning_rate": [5.0]}, {}, "between"),
        ({"optimizer": ["rmsprop"]}, {}, "optimizer must be one of"),
        ({"early_stopping_patience": [1, 500]}, {}, "early_stopping_patience must be between"),
        ({"epochs": list(range(1, 22))}, {}, r"the grid has 21 runs, more than .*SWEEP_MAX"),
        ({"epochs": [1, 2]}, {"random": 3}, "random asks for 3 runs, but the grid holds only 2"),
        ({"epochs": list(range(1, 50))}, {"random": 21}, "random asks for 21 runs, more than"),
        ({"epochs": [1, 2]}, {"random": 0}, "random must be at least 1"),
        ({"epochs": [1, 2]}, {"random": "2"}, "random must be a whole number"),
        ({"epochs": [1, 2]}, {"random": 1.5}, "random must be a whole number"),
        ({"epochs": [1, 2]}, {"random": True}, "random must be a whole number"),
        (
            {"validation_fraction": [0.5], "test_fraction": [0.2, 0.45]},
            {},
            "the combination .* cannot run: validation_fraction \\+ test_fraction",
        ),
        ({"validation_fraction": [0.0, 0.1]}, {}, "ranks runs by val_accuracy, but run 1 has no"),
        ({"epochs": [1]}, {"metric": "f1"}, "unknown sweep metric 'f1'"),
    ],
)
def test_a_bad_space_is_refused_with_a_clear_reason(space, kwargs, message):
    architecture = kwargs.pop("architecture", "mlp")
    with pytest.raises(SweepSpaceError, match=message):
        expand(architecture, space, max_runs=20, **kwargs)


def test_a_space_without_validation_split_may_rank_by_a_test_metric():
    runs = expand("mlp", {"validation_fraction": [0.0]}, max_runs=5, metric="test_accuracy").runs

    assert runs[0]["validation_fraction"] == 0


def test_losses_are_minimised_and_the_rest_maximised():
    assert metric_goal("val_loss") == "min" and metric_goal("val_accuracy") == "max"
    assert metric_goal("macro_f1") == "max"
