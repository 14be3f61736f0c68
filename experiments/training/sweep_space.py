"""A sweep's hyperparameter space, expanded into the runs it asks for.

Plain Python, like ``hyperparameters``: used at submit time to refuse a bad sweep before any
run exists.

A space maps hyperparameter names to the values to try: a list (one run per value, crossed
with the other lists), or a single value (every run gets it). The whole grid runs, or with
``random: N`` N distinct points of it drawn with a seed.
"""

import math
import random as random_module
import sys
from dataclasses import dataclass

from .hyperparameters import ARCHITECTURES, HyperparameterError, resolve_hyperparameters


class SweepSpaceError(HyperparameterError):
    """A sweep space, its size or its metric is not acceptable; the message says why."""


# What a sweep may rank its runs by, and which way is better.
METRICS = {
    "val_accuracy": "max",
    "val_loss": "min",
    "accuracy": "max",
    "loss": "min",
    "test_accuracy": "max",
    "test_loss": "min",
    "macro_f1": "max",
    "weighted_f1": "max",
}
DEFAULT_METRIC = "val_accuracy"
# Values one hyperparameter may list: more than any grid or draw could use.
MAX_VALUES = 1000


@dataclass(frozen=True)
class Expanded:
    runs: list[dict]  # each run's full hyperparameters, in the order they are queued
    grid_size: int  # points in the whole grid (what ``random`` drew from)


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise SweepSpaceError(
            f"unknown sweep metric {metric!r}: use one of {', '.join(sorted(METRICS))}"
        )
    return metric


def metric_goal(metric: str) -> str:
    """``"max"`` or ``"min"``: which end of ``metric`` is the better run."""
    return METRICS[check_metric(metric)]


def expand(
    architecture: str,
    space: object,
    *,
    random: object = None,
    seed: int = 0,
    max_runs: int,
    metric: str = DEFAULT_METRIC,
    has_validation: bool | None = None,
) -> Expanded:
    """The runs a sweep asks for, each hyperparameter checked as a single run's would be.

    Refused: a space that is not a non-empty object, an unknown hyperparameter, an empty list
    or one longer than ``MAX_VALUES``, a value the hyperparameter does not take, a value
    listed twice, a grid (or ``random``) larger than ``max_runs``, ``random`` that is not a
    whole number from 1 to the grid's size, a combination a single run would refuse, and a
    validation metric when some run would have no validation split: ``has_validation`` says
    whether the data's recorded split holds one (None: no recorded split, each run's
    ``validation_fraction`` decides).
    """
    check_metric(metric)
    if architecture not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise SweepSpaceError(f"unknown architecture {architecture!r}: use one of {known}")
    params = ARCHITECTURES[architecture]
    if not isinstance(space, dict) or not space:
        raise SweepSpaceError(
            'the space must be an object of hyperparameter: [values], e.g. {"learning_rate": '
            "[0.001, 0.01]}"
        )
    axes: list[tuple[str, list]] = []
    for name in sorted(space):
        if name not in params:
            raise SweepSpaceError(
                f"unknown hyperparameter {name!r} in the space for {architecture}: "
                f"use {', '.join(sorted(params))}"
            )
        axes.append((name, _values(name, space[name], params[name])))
    grid_size = math.prod(len(values) for _, values in axes)
    wanted = grid_size if random is None else _random_count(random, grid_size)
    if wanted > max_runs:
        how = "the grid has" if random is None else "random asks for"
        hint = ": narrow the space, or sample it with random" if random is None else ""
        raise SweepSpaceError(
            f"{how} {wanted} runs, more than a sweep may hold (SWEEP_MAX_RUNS={max_runs}){hint}"
        )
    points = range(grid_size) if random is None else _draw(grid_size, wanted, seed)
    runs = [_resolve(architecture, axes, point) for point in points]
    if metric.startswith("val_"):
        _check_validation(metric, runs, has_validation)
    return Expanded(runs=runs, grid_size=grid_size)


def _draw(grid_size: int, wanted: int, seed: int) -> list[int]:
    """``wanted`` distinct points of the grid, in order, drawn without building it."""
    rng = random_module.Random(seed)
    if grid_size <= sys.maxsize:
        return sorted(rng.sample(range(grid_size), wanted))
    drawn: set[int] = set()  # a grid this large: a repeat is all but impossible
    while len(drawn) < wanted:
        drawn.add(rng.randrange(grid_size))
    return sorted(drawn)


def _check_validation(metric: str, runs: list[dict], has_validation: bool | None) -> None:
    if has_validation is False:
        raise SweepSpaceError(
            f"the sweep ranks runs by {metric}, but the dataset version's recorded split has "
            "no validation rows: rank by a test metric, or split it again with some"
        )
    bare = [i for i, hp in enumerate(runs) if hp["validation_fraction"] == 0]
    if has_validation is None and bare:
        raise SweepSpaceError(
            f"the sweep ranks runs by {metric}, but run {bare[0] + 1} has no validation "
            "split (validation_fraction 0): rank by a test metric, or keep a validation split"
        )


def _values(name: str, given: object, param) -> list:
    listed = given if isinstance(given, list) else [given]
    if not listed:
        raise SweepSpaceError(f"space.{name} is an empty list: give at least one value")
    if len(listed) > MAX_VALUES:
        raise SweepSpaceError(f"space.{name} lists {len(listed)} values, more than {MAX_VALUES}")
    values, seen = [], set()
    for i, value in enumerate(listed):
        if isinstance(value, (list, dict)):
            raise SweepSpaceError(f"space.{name}[{i}]: {name} takes a single value, got {value!r}")
        try:
            coerced = param.coerce(name, value)
        except HyperparameterError as exc:
            where = f"space.{name}[{i}]" if isinstance(given, list) else f"space.{name}"
            raise SweepSpaceError(f"{where}: {exc}") from None
        if coerced in seen:
            raise SweepSpaceError(f"space.{name} lists {coerced!r} more than once")
        seen.add(coerced)
        values.append(coerced)
    return values


def _random_count(random: object, grid_size: int) -> int:
    if isinstance(random, bool) or not isinstance(random, int):
        raise SweepSpaceError(f"random must be a whole number of runs, got {random!r}")
    if random < 1:
        raise SweepSpaceError(f"random must be at least 1, got {random}")
    if random > grid_size:
        raise SweepSpaceError(
            f"random asks for {random} runs, but the grid holds only {grid_size} distinct "
            "combinations: ask for fewer, or list more values"
        )
    return random


def _resolve(architecture: str, axes: list[tuple[str, list]], point: int) -> dict:
    """The hyperparameters at ``point`` of the grid (the last axis varies fastest)."""
    chosen = {}
    for name, values in reversed(axes):
        point, index = divmod(point, len(values))
        chosen[name] = values[index]
    chosen = dict(sorted(chosen.items()))
    try:
        return resolve_hyperparameters(architecture, chosen)
    except HyperparameterError as exc:
        raise SweepSpaceError(f"the combination {chosen} cannot run: {exc}") from None
