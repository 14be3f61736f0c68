"""Train and evaluate a classifier: arrays in, a Keras model and metrics out.

Pure Keras 3 and NumPy (no Django, no TensorFlow-only calls), so the same code trains on the
TensorFlow, JAX or PyTorch backend, on a GPU when the backend sees one, data-parallel over
several GPUs on JAX and TensorFlow.

Features in memory are handed to ``fit`` as arrays; features in a memory-mapped file (a
``np.memmap``, for data larger than the worker's memory) are read from it batch by batch
(``feeding``), so memory use does not grow with the dataset.
"""

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from . import feeding
from .hyperparameters import check_input_shape, resolve_hyperparameters

EpochHook = Callable[[int, dict[str, float]], None]
StopHook = Callable[[], bool]
# on_batch(epoch, batch, batches_per_epoch, batch_size), epoch and batch counted from 1.
BatchHook = Callable[[int, int, int, int], None]


@dataclass
class TrainResult:
    model: keras.Model
    classes: list
    input_shape: list[int]
    history: list[dict[str, float]] = field(default_factory=list)
    test_metrics: dict[str, float] = field(default_factory=dict)
    split_sizes: dict[str, int] = field(default_factory=dict)
    cancelled: bool = False
    seconds: float = 0.0
    # Early stopping (1-based epochs): the epoch it stopped after, None when training ran
    # every epoch or was cancelled; the epoch whose weights the model holds, None when off.
    stopped_epoch: int | None = None
    best_epoch: int | None = None
    # Rows of ``x`` in the test split, in the order evaluated (empty when there is none), and
    # the trained network's class probabilities for them (None when not evaluated).
    test_indices: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    test_probabilities: np.ndarray | None = None
    # Where it trained: the Keras backend, the devices ("gpu:0", "cpu:0", ...) and how the
    # batches were spread over them ("single", "DataParallel(2)", "MirroredStrategy(2)").
    backend: str = ""
    devices: list[str] = field(default_factory=list)
    distribution: str = "single"


def build_model(
    architecture: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    hp: dict,
    x_train: np.ndarray | tuple[float, float],
) -> keras.Model:
    """The network, with its input scaling learnt from the training split: adapted to
    ``x_train``, or set to the (mean, variance) of its values when it was read from disk.

    The Normalization layer travels inside the saved model, so serving takes raw features.
    """
    if isinstance(x_train, tuple):
        mean, variance = x_train
        normalizer = keras.layers.Normalization(
            axis=None, mean=mean, variance=variance, name="normalize"
        )
    else:
        normalizer = keras.layers.Normalization(axis=None, name="normalize")
        normalizer.adapt(x_train)
    inputs = keras.Input(shape=input_shape, name="features")
    h = normalizer(inputs)
    if architecture == "linear":  # multinomial logistic regression: a baseline
        h = keras.layers.Flatten()(h)
    elif architecture == "mlp":
        h = keras.layers.Flatten()(h)
        for i in range(hp["hidden_layers"]):
            h = keras.layers.Dense(hp["hidden_units"], activation="relu", name=f"hidden_{i}")(h)
    elif architecture == "cnn":
        k = hp["kernel_size"]
        h = keras.layers.Conv2D(hp["filters"], k, padding="same", activation="relu")(h)
        h = keras.layers.MaxPooling2D()(h)
        h = keras.layers.Conv2D(hp["filters"] * 2, k, padding="same", activation="relu")(h)
        h = keras.layers.GlobalAveragePooling2D()(h)
        h = keras.layers.Dense(hp["dense_units"], activation="relu")(h)
    else:
        raise ValueError(f"unknown architecture {architecture!r}")
    if hp["dropout"] > 0:
        h = keras.layers.Dropout(hp["dropout"], seed=hp["seed"])(h)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(h)
    return keras.Model(inputs, outputs, name=architecture)


def learning_rate(
    hp: dict, steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The step size ``hp`` asks for: a number, or a schedule over the optimizer's steps."""
    if hp["lr_schedule"] == "cosine":
        total = hp["epochs"] * steps_per_epoch
        return keras.optimizers.schedules.CosineDecay(hp["learning_rate"], decay_steps=total)
    if hp["lr_schedule"] == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            hp["learning_rate"],
            decay_steps=hp["lr_decay_epochs"] * steps_per_epoch,
            decay_rate=hp["lr_decay_rate"],
            staircase=True,
        )
    return hp["learning_rate"]


def build_optimizer(hp: dict, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    rate = learning_rate(hp, steps_per_epoch)
    if hp["optimizer"] == "sgd":
        return keras.optimizers.SGD(rate, momentum=hp["momentum"])
    if hp["optimizer"] == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=hp["weight_decay"])
    if hp["optimizer"] == "adam":
        return keras.optimizers.Adam(rate)
    raise ValueError(f"unknown optimizer {hp['optimizer']!r}")


def early_stopping(hp: dict, has_validation: bool) -> keras.callbacks.EarlyStopping | None:
    """Stops when the validation loss has not improved for ``early_stopping_patience`` epochs
    and leaves the model with its best epoch's weights.

    Without a validation split it watches the training loss instead, so a patience asked for
    at submit (when the split is not yet known) still bounds the run.
    """
    if not hp["early_stopping_patience"]:
        return None
    return keras.callbacks.EarlyStopping(
        monitor="val_loss" if has_validation else "loss",
        patience=hp["early_stopping_patience"],
        restore_best_weights=True,
    )


def stratified_split(
    labels: np.ndarray, *, validation: float, test: float, seed: int
) -> dict[str, np.ndarray]:
    """Indices of train/validation/test splits holding each class in the same proportions."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_test = int(round(len(idx) * test))
        n_val = int(round(len(idx) * validation))
        if len(idx) - n_test - n_val < 1:  # keep at least one training sample per class
            n_test, n_val = min(n_test, len(idx) - 1), 0
        parts["test"].append(idx[:n_test])
        parts["validation"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}


SPLITS = ("train", "validation", "test")


def raw_input_shape(transforms: list[dict] | None) -> list[int] | None:
    return list(transforms[0]["input_shape"]) if transforms else None


def with_input_transforms(model: keras.Model, transforms: list[dict]) -> keras.Model:
    """``model`` behind the fixed layers that turn a raw row into what it was trained on.

    Each recipe flattens the row, scales every feature as it was fitted ((x - offset) /
    scale, with fixed layers, nothing learnt) and reshapes.
    The layers are saved with the model, so serving takes raw rows with nothing else to know.
    """
    inputs = keras.Input(shape=tuple(transforms[0]["input_shape"]), name="raw_features")
    h = inputs
    for i, recipe in enumerate(transforms):
        size = int(np.prod(recipe["input_shape"]))
        h = keras.layers.Reshape((size,), name=f"recipe_{i}_flatten")(h)
        normalize = recipe.get("normalize")
        if normalize:
            # Subtract, then multiply by 1/scale: a Normalization layer dividing by
            # sqrt(variance) would floor tiny scales at 1e-7 and overflow scale**2.
            h = keras.layers.Normalization(
                mean=np.asarray(normalize["offset"], dtype="float32"),
                variance=np.ones(size, dtype="float32"),
                name=f"recipe_{i}_offset",
            )(h)
            h = keras.layers.Rescaling(
                scale=(1.0 / np.asarray(normalize["scale"], dtype="float64")).astype("float32"),
                name=f"recipe_{i}_scale",
            )(h)
        h = keras.layers.Reshape(tuple(recipe["output_shape"]), name=f"recipe_{i}_reshape")(h)
    return keras.Model(inputs, model(h), name=f"{model.name}_on_raw_rows")


def invert_transforms(x: np.ndarray, transforms: list[dict]) -> np.ndarray:
    """Raw rows that the transforms would turn into ``x`` (an example for the model's
    signature, when only processed rows are at hand)."""
    for recipe in reversed(transforms):
        flat = x.reshape(len(x), -1).astype(np.float64)
        normalize = recipe.get("normalize")
        if normalize:
            flat = flat * np.asarray(normalize["scale"]) + np.asarray(normalize["offset"])
        x = flat.reshape(len(x), *recipe["input_shape"])
    return x.astype(np.float32)


def visible_devices() -> list[str]:
    """The devices the backend trains on, as "gpu:0", "cpu:0", ...: its accelerators when it
    sees any, else its CPU."""
    if keras.backend.backend() == "torch":
        # Keras has no distribution library for torch; the backend has imported torch already.
        import torch

        if torch.cuda.is_available():
            return [f"gpu:{i}" for i in range(torch.cuda.device_count())]
        return ["mps:0"] if torch.backends.mps.is_available() else ["cpu:0"]
    try:
        return list(keras.distribution.list_devices()) or ["cpu:0"]
    except AttributeError:  # a backend without a distribution library (numpy, openvino)
        return ["cpu:0"]


def choose_distribution(backend: str, devices: list[str], *, batch_size: int) -> str:
    """How training spreads over ``devices``: "single" (the first device), or data-parallel
    over every accelerator when there are two or more.

    Both strategies split each batch evenly over the devices (Keras 3 fails on uneven
    shares), so they need a batch size the devices divide. The torch backend stays on one
    GPU: Keras's ``fit`` has no in-process data parallelism for torch (that takes one process
    per GPU under torchrun and DistributedDataParallel, outside ``fit``).
    """
    n = sum(not d.startswith("cpu") for d in devices)
    if n < 2 or batch_size % n:
        return "single"
    return {"jax": f"DataParallel({n})", "tensorflow": f"MirroredStrategy({n})"}.get(
        backend, "single"
    )


def placement(batch_size: int) -> tuple[str, list[str], str]:
    """The Keras backend, the devices a run trains on and how it spreads over them."""
    backend, visible = keras.backend.backend(), visible_devices()
    distribution = choose_distribution(backend, visible, batch_size=batch_size)
    return backend, (visible if distribution != "single" else visible[:1]), distribution


def _even(split: dict[str, np.ndarray], replicas: int) -> dict[str, np.ndarray]:
    """Each split less its last few rows (fewer than ``replicas``): a data-parallel step
    splits its batch evenly over the replicas, the last batch too."""
    return {name: rows[: len(rows) - len(rows) % replicas] for name, rows in split.items()}


@contextlib.contextmanager
def _spread(distribution: str, devices: list[str]):
    """The scope in which the model is built, compiled and fitted: the data-parallel
    strategy that ``distribution`` names over ``devices``, reset on the way out."""
    if distribution.startswith("DataParallel"):
        with keras.distribution.DataParallel(devices=devices).scope():
            yield
    elif distribution.startswith("MirroredStrategy"):
        import tensorflow as tf  # only on this branch: the trainer imports without TensorFlow

        with tf.distribute.MirroredStrategy([d.upper() for d in devices]).scope():
            yield
    else:
        yield


class _Hooks(keras.callbacks.Callback):
    """Records and reports each epoch."""

    def __init__(self, on_epoch: EpochHook | None):
        super().__init__()
        self.on_epoch = on_epoch
        self.history: list[dict[str, float]] = []

    def on_epoch_end(self, epoch, logs=None):
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        self.history.append({"epoch": epoch + 1, **metrics})
        if self.on_epoch is not None:
            self.on_epoch(epoch + 1, metrics)


class _BatchHooks(keras.callbacks.Callback):
    """Reports each training batch and stops at the next batch boundary when asked to.

    Added only when there is a hook to call: a callback with a batch method makes Keras turn
    every batch's metrics into Python numbers, which waits for the device at each step.
    """

    def __init__(self, on_batch: BatchHook | None, should_stop: StopHook | None, batch_size):
        super().__init__()
        self.on_batch, self.should_stop, self.batch_size = on_batch, should_stop, batch_size
        self.epoch = 0
        self.cancelled = False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if self.on_batch is not None:
            self.on_batch(self.epoch, batch + 1, self.params["steps"], self.batch_size)
        if self.should_stop is not None and self.should_stop():
            self.cancelled = True
            self.model.stop_training = True


def _fit(x, y_index, split, *, architecture, hp, num_classes, callbacks):
    """Build, compile and fit; returns the model and the early-stopping callback (or None)."""
    scaling, data = feeding.fit_data(
        x, y_index, split, batch_size=hp["batch_size"], seed=hp["seed"]
    )
    model = build_model(architecture, tuple(x.shape[1:]), num_classes, hp, scaling)
    model.compile(
        optimizer=build_optimizer(hp, math.ceil(len(split["train"]) / hp["batch_size"])),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stopper = early_stopping(hp, has_validation=len(split["validation"]) > 0)
    model.fit(
        **data,
        epochs=hp["epochs"],
        callbacks=callbacks if stopper is None else [*callbacks, stopper],
        verbose=0,
    )
    return model, stopper


def test_metrics(probabilities: np.ndarray, true_index: np.ndarray) -> dict[str, float]:
    """Loss and accuracy of class ``probabilities`` against the true class indices, as Keras's
    ``sparse_categorical_crossentropy`` and ``accuracy`` compute them (probabilities clipped
    to [1e-7, 1 - 1e-7] before the log)."""
    epsilon = keras.config.epsilon()
    chosen = probabilities[np.arange(len(true_index)), true_index].astype(np.float64)
    loss = -np.log(np.clip(chosen, epsilon, 1 - epsilon)).mean()
    accuracy = (probabilities.argmax(axis=1) == true_index).mean()
    return {"test_loss": float(loss), "test_accuracy": float(accuracy)}


def predict(model: keras.Model, x: np.ndarray, rows: np.ndarray, *, batch_size: int = 1024):
    """The model's outputs for ``x[rows]``, in that order, as a NumPy array; read from disk
    in batches when ``x`` is a memory-mapped file, so ``x[rows]`` is never held whole."""
    outputs = model.predict(**feeding.predict_data(x, rows, batch_size=batch_size), verbose=0)
    return np.asarray(outputs)


def train(
    x: np.ndarray,
    y: np.ndarray,
    *,
    architecture: str,
    hyperparameters: dict | None = None,
    on_epoch: EpochHook | None = None,
    should_stop: StopHook | None = None,
    on_batch: BatchHook | None = None,
    split: np.ndarray | None = None,
    input_transforms: list[dict] | None = None,
) -> TrainResult:
    """Train ``architecture`` on (x, y); evaluate on a held-out test split.

    ``split`` (0 train, 1 validation, 2 test per row), when given, is used instead of a split
    drawn here. Early stopping, when asked for, watches ``val_loss`` (the training loss when
    there is no validation split) and restores the best epoch's weights before the test.
    ``input_transforms`` are the processing recipes that made ``x`` from raw rows
    (oldest first): the returned model applies them itself, so it takes raw rows.
    ``on_batch(epoch, batch, batches_per_epoch, batch_size)`` is called after every training
    batch (epoch and batch from 1); ``should_stop`` is asked after every batch too.
    With two or more GPUs, JAX and TensorFlow train data-parallel over all of them, which
    drops the last few rows (fewer than one per GPU) of each split.

    ``x`` is a NumPy array. A ``np.memmap`` of a whole file (what ``dataset_version_open``
    gives for large data) stays on disk: the batches, the validation and test passes and the
    Normalization layer's statistics read its rows a batch or chunk at a time, as float32
    (``feeding``), and it is never converted or copied whole.
    """
    started = time.monotonic()
    hp = resolve_hyperparameters(architecture, hyperparameters)
    check_input_shape(architecture, list(x.shape[1:]))
    keras.utils.set_random_seed(hp["seed"])
    classes, y_index = np.unique(y, return_inverse=True)
    if split is not None:
        split = {name: np.flatnonzero(split == code) for code, name in enumerate(SPLITS)}
    else:
        split = stratified_split(
            y_index, validation=hp["validation_fraction"], test=hp["test_fraction"], seed=hp["seed"]
        )
    backend, devices, distribution = placement(hp["batch_size"])
    split = _even(split, len(devices))
    if not feeding.on_disk(x):  # a mapped x is converted batch by batch as it is read
        x = x.astype("float32", copy=False)
    hooks = _Hooks(on_epoch)
    batch_hooks = None
    if on_batch is not None or should_stop is not None:
        batch_hooks = _BatchHooks(on_batch, should_stop, hp["batch_size"])
    with _spread(distribution, devices):
        model, stopper = _fit(
            x,
            y_index,
            split,
            architecture=architecture,
            hp=hp,
            num_classes=len(classes),
            callbacks=[hooks] if batch_hooks is None else [hooks, batch_hooks],
        )
    cancelled = batch_hooks is not None and batch_hooks.cancelled
    result = TrainResult(
        model=with_input_transforms(model, input_transforms) if input_transforms else model,
        classes=[c.item() for c in classes],
        input_shape=[int(d) for d in (raw_input_shape(input_transforms) or x.shape[1:])],
        history=hooks.history,
        split_sizes={name: int(len(idx)) for name, idx in split.items()},
        cancelled=cancelled,
        test_indices=np.asarray(split["test"], dtype=np.int64),
        backend=backend,
        devices=devices,
        distribution=distribution,
    )
    if stopper is not None and not cancelled:
        result.best_epoch = stopper.best_epoch + 1
        result.stopped_epoch = stopper.stopped_epoch + 1 if stopper.stopped_epoch else None
    if not cancelled and len(split["test"]):
        # One pass gives the metrics and the probabilities the caller judges the run by.
        batch_size = 256 - 256 % len(devices)
        result.test_probabilities = predict(model, x, split["test"], batch_size=batch_size)
        result.test_metrics = test_metrics(result.test_probabilities, y_index[split["test"]])
    result.seconds = time.monotonic() - started
    return result
