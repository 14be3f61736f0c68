"""Architectures the platform trains and the hyperparameters each accepts.

Plain Python: this module is used at submit time (web, commands) to reject a bad request
before a run exists, so it must not import Keras.
"""

from dataclasses import dataclass
from numbers import Real


class HyperparameterError(ValueError):
    """A submitted architecture or hyperparameter is not acceptable; the message says why."""


@dataclass(frozen=True)
class Param:
    kind: type  # int or float
    default: float
    minimum: float
    maximum: float
    help: str

    def coerce(self, name: str, value: object) -> int | float:
        number = _number(name, value)
        if self.kind is int:
            if number != int(number):
                raise HyperparameterError(f"{name} must be a whole number, got {value!r}")
            number = int(number)
        if not self.minimum <= number <= self.maximum:
            raise HyperparameterError(
                f"{name} must be between {self.minimum} and {self.maximum}, got {value!r}"
            )
        return number


@dataclass(frozen=True)
class Choice:
    """A hyperparameter that names one of a fixed set of options (exact, case-sensitive)."""

    choices: tuple[str, ...]
    default: str
    help: str
    kind = str

    def coerce(self, name: str, value: object) -> str:
        text = value.strip() if isinstance(value, str) else value
        if text not in self.choices:
            raise HyperparameterError(
                f"{name} must be one of {', '.join(self.choices)}, got {value!r}"
            )
        return text


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise HyperparameterError(f"{name} must be a number, got {value!r}")
    if isinstance(value, Real):
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float: 10**400
            raise HyperparameterError(f"{name} must be a finite number") from None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise HyperparameterError(f"{name} must be a number, got {value!r}") from None
    else:
        raise HyperparameterError(f"{name} must be a number, got {value!r}")
    if number != number or number in (float("inf"), float("-inf")):
        raise HyperparameterError(f"{name} must be a finite number, got {value!r}")
    return number


COMMON = {
    "epochs": Param(int, 20, 1, 1000, "passes over the training split"),
    "batch_size": Param(int, 32, 1, 65536, "samples per gradient step"),
    "learning_rate": Param(float, 1e-3, 1e-6, 1.0, "initial step size of the optimizer"),
    "optimizer": Choice(
        ("adam", "sgd", "adamw"),
        "adam",
        "adam; sgd (with momentum); adamw (Adam with decoupled weight decay)",
    ),
    "momentum": Param(float, 0.9, 0.0, 0.99, "sgd momentum (other optimizers ignore it)"),
    "weight_decay": Param(
        float, 0.004, 0.0, 0.1, "adamw decoupled weight decay (other optimizers ignore it)"
    ),
    "lr_schedule": Choice(
        ("constant", "cosine", "step"),
        "constant",
        "constant: learning_rate throughout; cosine: decays to 0 by the last step; "
        "step: multiplied by lr_decay_rate every lr_decay_epochs epochs",
    ),
    "lr_decay_rate": Param(float, 0.1, 0.01, 1.0, "step schedule: factor applied at each drop"),
    "lr_decay_epochs": Param(int, 10, 1, 1000, "step schedule: epochs between drops"),
    "early_stopping_patience": Param(
        int,
        0,
        0,
        100,
        "0: off; else stop after this many epochs without a lower val_loss (training loss "
        "when there is no validation split) and keep the best epoch's weights",
    ),
    "dropout": Param(float, 0.1, 0.0, 0.9, "dropout rate before the output layer"),
    "seed": Param(int, 42, 0, 2**31 - 1, "seed for the split, weights and shuffling"),
    "validation_fraction": Param(float, 0.15, 0.0, 0.5, "share of samples held out for validation"),
    "test_fraction": Param(float, 0.15, 0.05, 0.5, "share of samples held out for the final test"),
}

ARCHITECTURES: dict[str, dict[str, Param | Choice]] = {
    # Multinomial logistic regression on the normalized, flattened features: the baseline.
    "linear": {**COMMON},
    "mlp": {
        **COMMON,
        "hidden_units": Param(int, 128, 1, 8192, "units in each hidden layer"),
        "hidden_layers": Param(int, 2, 1, 16, "number of hidden layers"),
    },
    "cnn": {
        **COMMON,
        "filters": Param(
            int, 32, 1, 1024, "filters in the first convolution (doubled in the second)"
        ),
        "kernel_size": Param(int, 3, 1, 15, "convolution kernel size"),
        "dense_units": Param(int, 64, 1, 8192, "units in the dense layer"),
    },
}


def resolve_hyperparameters(architecture: str, given: dict[str, object] | None) -> dict:
    """The full hyperparameters of a run: defaults overridden by ``given``, each checked."""
    if architecture not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise HyperparameterError(f"unknown architecture {architecture!r}: use one of {known}")
    params = ARCHITECTURES[architecture]
    given = given or {}
    if not isinstance(given, dict):
        raise HyperparameterError("hyperparameters must be an object of name: value")
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise HyperparameterError(
            f"unknown hyperparameter {unknown[0]!r} for {architecture}: "
            f"use {', '.join(sorted(params))}"
        )
    resolved = {name: p.kind(p.default) for name, p in params.items()}
    resolved.update({name: params[name].coerce(name, value) for name, value in given.items()})
    if resolved["validation_fraction"] + resolved["test_fraction"] >= 0.9:
        raise HyperparameterError("validation_fraction + test_fraction must stay below 0.9")
    if resolved["lr_schedule"] == "step" and resolved["lr_decay_epochs"] >= resolved["epochs"]:
        raise HyperparameterError(
            f"a step schedule drops the learning rate every lr_decay_epochs "
            f"({resolved['lr_decay_epochs']}) epochs, which must be fewer than epochs "
            f"({resolved['epochs']})"
        )
    return resolved


def check_input_shape(architecture: str, feature_shape: list[int]) -> None:
    """Refuse data an architecture cannot take, before a run is created."""
    if architecture == "cnn" and len(feature_shape) != 3:
        raise HyperparameterError(
            "cnn needs image-shaped features (height, width, channels); this dataset's "
            f"features have shape {tuple(feature_shape)}: reshape it first, or use mlp or linear"
        )
    if architecture == "cnn" and min(feature_shape[:2]) < 4:
        raise HyperparameterError(f"cnn needs images of at least 4x4, got {tuple(feature_shape)}")
