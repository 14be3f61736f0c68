"""The pure Keras training core: arrays in, a model and metrics out.

Runs without Django or the suite's conftest too (the JAX job in .ci/run does).
"""

import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import pytest

from experiments.training import feeding, trainer
from experiments.training.hyperparameters import (
    HyperparameterError,
    check_input_shape,
    resolve_hyperparameters,
)

ROOT = Path(__file__).resolve().parents[2]


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
    probabilities = as_numpy(result.model(x[:5], training=False))
    assert probabilities.shape == (5, 3)
    # the defaults keep what runs did before these choices existed
    assert isinstance(result.model.optimizer, keras.optimizers.Adam)
    assert not isinstance(result.model.optimizer, keras.optimizers.AdamW)
    assert result.stopped_epoch is None and result.best_epoch is None


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


def as_float(value) -> float:
    return float(keras.ops.convert_to_numpy(value))


def as_numpy(value) -> np.ndarray:
    return keras.ops.convert_to_numpy(value)


def fixed_split(n, *, validation, test):
    """0 train, 1 validation, 2 test per row: the last rows are held out."""
    codes = np.zeros(n, dtype=np.int64)
    codes[n - validation - test : n - test] = 1
    codes[n - test :] = 2
    return codes


def test_a_linear_baseline_is_logistic_regression_and_beats_chance():
    x, y = blobs()

    result = trainer.train(
        x, y, architecture="linear", hyperparameters={"epochs": 10, "learning_rate": 0.1}
    )

    dense = [layer for layer in result.model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.name for layer in dense] == ["probabilities"]
    weights = sum(int(np.prod(w.shape)) for w in result.model.trainable_weights)
    assert weights == 6 * 3 + 3
    assert result.test_metrics["test_accuracy"] > 0.9  # chance is 1/3


def test_a_linear_baseline_takes_image_shaped_features():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 20)
    x = rng.normal(size=(40, 4, 4, 1)).astype(np.float32) + y[:, None, None, None] * 2

    result = trainer.train(x, y, architecture="linear", hyperparameters={"epochs": 2})

    assert result.input_shape == [4, 4, 1] and "test_accuracy" in result.test_metrics


@pytest.mark.parametrize(
    ("given", "optimizer", "setting"),
    [
        ({"optimizer": "adam"}, keras.optimizers.Adam, None),
        ({"optimizer": "sgd", "momentum": 0.5}, keras.optimizers.SGD, ("momentum", 0.5)),
        (
            {"optimizer": "adamw", "weight_decay": 0.01},
            keras.optimizers.AdamW,
            ("weight_decay", 0.01),
        ),
    ],
)
def test_each_optimizer_trains(given, optimizer, setting):
    x, y = blobs()

    result = trainer.train(
        x, y, architecture="linear", hyperparameters={"epochs": 10, "learning_rate": 0.1, **given}
    )

    # the torch backend trains with a subclass of the same name
    assert isinstance(result.model.optimizer, optimizer)
    assert type(result.model.optimizer).__name__ == optimizer.__name__
    if setting:
        assert getattr(result.model.optimizer, setting[0]) == pytest.approx(setting[1])
    assert result.test_metrics["test_accuracy"] > 0.9


def test_a_constant_rate_stays_where_it_was_set():
    x, y = blobs()

    result = trainer.train(
        x, y, architecture="linear", hyperparameters={"epochs": 2, "learning_rate": 0.02}
    )

    assert as_float(result.model.optimizer.learning_rate) == pytest.approx(0.02)


def test_a_cosine_schedule_decays_to_zero_by_the_last_step():
    x, y = blobs()  # 84 training rows: 3 steps of 32 per epoch
    hp = {"epochs": 3, "learning_rate": 0.1, "lr_schedule": "cosine"}

    result = trainer.train(x, y, architecture="linear", hyperparameters=hp)

    optimizer = result.model.optimizer
    assert int(optimizer.iterations) == 9
    assert as_float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-7)
    schedule = trainer.learning_rate(resolve_hyperparameters("linear", hp), steps_per_epoch=3)
    assert as_float(schedule(0)) == pytest.approx(0.1)
    assert 0 < as_float(schedule(4)) < 0.1


def test_a_step_schedule_drops_the_rate_every_lr_decay_epochs():
    hp = resolve_hyperparameters(
        "mlp", {"epochs": 5, "learning_rate": 0.1, "lr_schedule": "step", "lr_decay_epochs": 2}
    )

    schedule = trainer.learning_rate(hp, steps_per_epoch=10)

    rates = [as_float(schedule(step)) for step in (0, 19, 20, 39, 40)]
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])


def test_a_step_schedule_is_what_the_trained_optimizer_followed():
    x, y = blobs()
    hp = {"epochs": 3, "learning_rate": 0.1, "lr_schedule": "step", "lr_decay_epochs": 1}
    hp["lr_decay_rate"] = 0.5

    result = trainer.train(x, y, architecture="linear", hyperparameters=hp)

    assert as_float(result.model.optimizer.learning_rate) == pytest.approx(0.1 * 0.5**3)


def test_a_model_trained_on_a_schedule_reloads_in_safe_mode(tmp_path):
    x, y = blobs()
    hp = {"epochs": 1, "optimizer": "adamw", "lr_schedule": "cosine"}
    result = trainer.train(x, y, architecture="linear", hyperparameters=hp)

    result.model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)

    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(again(x[:3])),
        keras.ops.convert_to_numpy(result.model(x[:3])),
        rtol=1e-5,
    )


def noise(n=160, features=6, seed=0):
    """Labels unrelated to the features: whatever a wide network learns, it overfits, so
    the validation loss soon stops improving."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)).astype(np.float32), rng.integers(0, 2, size=n)


def test_early_stopping_stops_once_val_loss_stops_improving_and_keeps_the_best_weights():
    x, y = noise()
    split = fixed_split(len(x), validation=40, test=20)
    seen = []
    hp = {"epochs": 40, "learning_rate": 0.05, "hidden_units": 64, "dropout": 0}
    hp.update(batch_size=16, early_stopping_patience=2)

    result = trainer.train(
        x,
        y,
        architecture="mlp",
        hyperparameters=hp,
        split=split,
        on_epoch=lambda epoch, metrics: seen.append(epoch),
    )

    val_losses = [row["val_loss"] for row in result.history]
    assert result.stopped_epoch is not None and result.stopped_epoch < 40
    assert seen == list(range(1, result.stopped_epoch + 1)) and len(val_losses) == len(seen)
    assert result.best_epoch == int(np.argmin(val_losses)) + 1
    assert result.stopped_epoch == result.best_epoch + 2
    validation = split == 1
    loss, _ = result.model.evaluate(x[validation], y[validation], batch_size=16, verbose=0)
    assert loss == pytest.approx(min(val_losses), rel=1e-4)
    assert loss < val_losses[-1]


def test_early_stopping_that_never_triggers_still_reports_the_best_epoch():
    x, y = blobs()

    result = trainer.train(
        x,
        y,
        architecture="linear",
        hyperparameters={"epochs": 3, "learning_rate": 0.01, "early_stopping_patience": 100},
    )

    assert result.stopped_epoch is None and len(result.history) == 3
    assert result.best_epoch in (1, 2, 3)


@pytest.mark.filterwarnings("error:Early stopping conditioned:UserWarning")
def test_without_a_validation_split_early_stopping_watches_the_training_loss():
    x, y = blobs()
    hp = {"epochs": 3, "validation_fraction": 0, "early_stopping_patience": 1}

    result = trainer.train(x, y, architecture="linear", hyperparameters=hp)

    assert result.split_sizes["validation"] == 0 and result.best_epoch is not None
    losses = [row["loss"] for row in result.history]
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert "val_loss" not in result.history[0]


def test_cancelling_with_early_stopping_on_reports_no_early_stop():
    x, y = blobs()
    calls = []

    def stop_after_two_batches():
        calls.append(1)
        return len(calls) >= 2

    result = trainer.train(
        x,
        y,
        architecture="linear",
        hyperparameters={"epochs": 30, "batch_size": 4, "early_stopping_patience": 1},
        should_stop=stop_after_two_batches,
    )

    assert result.cancelled and len(calls) == 2 and result.test_metrics == {}
    assert result.stopped_epoch is None and result.best_epoch is None


def test_test_indices_are_the_rows_of_the_test_split():
    x, y = blobs()

    drawn = trainer.train(x, y, architecture="linear", hyperparameters={"epochs": 1})
    split = fixed_split(len(x), validation=20, test=15)
    given = trainer.train(x, y, architecture="linear", hyperparameters={"epochs": 1}, split=split)

    assert len(drawn.test_indices) == drawn.split_sizes["test"] == 18
    assert len(set(drawn.test_indices.tolist())) == 18 and drawn.test_indices.max() < len(x)
    assert given.test_indices.tolist() == np.flatnonzero(split == 2).tolist()
    assert given.split_sizes["test"] == 15


def test_test_indices_are_empty_when_there_is_no_test_split():
    x, y = blobs()
    split = fixed_split(len(x), validation=20, test=0)

    result = trainer.train(x, y, architecture="linear", hyperparameters={"epochs": 1}, split=split)

    assert result.test_indices.shape == (0,) and result.test_indices.dtype.kind == "i"
    assert result.test_metrics == {}


def test_a_run_records_its_backend_and_the_devices_it_trained_on():
    x, y = blobs()

    result = trainer.train(x, y, architecture="linear", hyperparameters={"epochs": 1})

    assert result.backend == keras.backend.backend()
    assert set(result.devices) <= set(trainer.visible_devices())
    assert all(re.fullmatch(r"[a-z]+:\d+", device) for device in result.devices)
    if result.distribution == "single":
        assert len(result.devices) == 1
    if result.devices[0].startswith("cpu"):  # as in CI: the CPU, no strategy
        assert result.distribution == "single"


@pytest.mark.parametrize(
    ("backend", "devices", "batch_size", "expected"),
    [
        ("jax", ["cpu:0"], 32, "single"),
        ("jax", ["cpu:0", "cpu:1"], 32, "single"),  # CPU cores are not worth a strategy
        ("jax", ["gpu:0"], 32, "single"),
        ("jax", ["gpu:0", "gpu:1"], 32, "DataParallel(2)"),
        ("jax", [f"tpu:{i}" for i in range(8)], 256, "DataParallel(8)"),
        ("jax", ["gpu:0", "gpu:1", "gpu:2"], 32, "single"),  # 32 rows do not split in 3
        ("tensorflow", ["gpu:0"], 32, "single"),
        ("tensorflow", ["gpu:0", "gpu:1", "gpu:2"], 33, "MirroredStrategy(3)"),
        ("tensorflow", ["gpu:0", "gpu:1"], 33, "single"),
        ("torch", ["gpu:0", "gpu:1"], 32, "single"),
    ],
)
def test_data_parallel_training_is_chosen_only_for_several_accelerators(
    backend, devices, batch_size, expected
):
    assert trainer.choose_distribution(backend, devices, batch_size=batch_size) == expected


def test_on_batch_reports_every_training_batch_of_every_epoch():
    x, y = blobs()
    seen = []

    result = trainer.train(
        x,
        y,
        architecture="linear",
        hyperparameters={"epochs": 2, "batch_size": 20},
        on_batch=lambda *args: seen.append(args),
    )

    assert result.split_sizes["train"] == 84
    batches = math.ceil(84 / 20)
    assert seen == [(epoch, b, batches, 20) for epoch in (1, 2) for b in range(1, batches + 1)]


def test_on_batch_and_should_stop_see_the_same_batches():
    x, y = blobs()
    seen = []

    result = trainer.train(
        x,
        y,
        architecture="linear",
        hyperparameters={"epochs": 5, "batch_size": 4},
        on_batch=lambda *args: seen.append(args),
        should_stop=lambda: len(seen) >= 3,
    )

    assert result.cancelled and seen == [(1, 1, 21, 4), (1, 2, 21, 4), (1, 3, 21, 4)]


def test_without_batch_hooks_no_callback_runs_after_each_batch(monkeypatch):
    """A batch-level callback makes Keras wait for the device at every step."""

    def refuse(*args, **kwargs):
        raise AssertionError("a batch callback was added")

    monkeypatch.setattr(trainer, "_BatchHooks", refuse)
    x, y = blobs()

    result = trainer.train(x, y, architecture="linear", hyperparameters={"epochs": 1})

    assert len(result.history) == 1


def train_on_two_devices(on_disk=False):
    """Train on two CPU devices passed off as GPUs, and print what the run recorded as JSON;
    from a memory-mapped file when ``on_disk``.

    Run in a fresh process: the backend fixes its devices when it starts.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    choose = trainer.choose_distribution
    trainer.visible_devices = lambda: keras.distribution.list_devices("cpu")
    trainer.choose_distribution = lambda backend, devices, batch_size: choose(
        backend, ["gpu:0", "gpu:1"], batch_size=batch_size
    )
    x, y = blobs(n_per_class=45)  # 135 rows: every split has an odd number of rows
    seen = []

    result = trainer.train(
        mapped(Path(tempfile.mkdtemp()), x) if on_disk else x,
        y,
        architecture="mlp",
        hyperparameters={"epochs": 4, "learning_rate": 0.01},
        on_batch=lambda *args: seen.append(args),
    )

    path = Path(tempfile.mkdtemp()) / "model.keras"
    result.model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    recorded = {
        "distribution": result.distribution,
        "devices": result.devices,
        "split_sizes": result.split_sizes,
        "test_accuracy": result.test_metrics["test_accuracy"],
        "batches": sorted({args[2] for args in seen}),
        "scope_left": keras.distribution.distribution() is None,
        "reloaded": bool(np.allclose(as_numpy(again(x[:3])), as_numpy(result.model(x[:3])))),
    }
    print(json.dumps(recorded))


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="no data parallelism on torch")
@pytest.mark.parametrize("on_disk", [False, True], ids=["arrays", "memmap"])
def test_data_parallel_training_spreads_every_batch_evenly_over_the_devices(on_disk):
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"  # JAX: two CPU devices
    script = f"from {__name__} import train_on_two_devices as t; t(on_disk={on_disk})"

    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    strategy = {"jax": "DataParallel(2)", "tensorflow": "MirroredStrategy(2)"}
    assert seen["distribution"] == strategy[keras.backend.backend()]
    assert seen["devices"] == ["cpu:0", "cpu:1"]
    assert seen["split_sizes"] == {"train": 92, "validation": 20, "test": 20}  # 93, 21, 21
    assert seen["batches"] == [3] and seen["test_accuracy"] > 0.9
    assert seen["scope_left"] and seen["reloaded"]


def mapped(folder: Path, x: np.ndarray, name: str = "x.npy") -> np.memmap:
    """``x`` written to a .npy file and mapped read-only, as ``dataset_version_open`` leaves
    features too large for memory."""
    out = np.lib.format.open_memmap(folder / name, mode="w+", dtype=x.dtype, shape=x.shape)
    out[:] = x
    out.flush()
    del out
    return np.load(folder / name, mmap_mode="r")


def normalization(model: keras.Model) -> tuple[float, float]:
    layer = model.get_layer("normalize")
    return float(as_numpy(layer.mean).reshape(())), float(as_numpy(layer.variance).reshape(()))


def test_a_memory_mapped_x_trains_as_well_as_the_same_array(tmp_path, monkeypatch):
    x, y = blobs()
    hp = {"epochs": 4, "learning_rate": 0.01}
    in_memory = trainer.train(x, y, architecture="mlp", hyperparameters=hp)
    read = []
    rows = feeding._Reader.rows
    monkeypatch.setattr(
        feeding._Reader, "rows", lambda self, i: read.append(len(i)) or rows(self, i)
    )

    on_disk = trainer.train(mapped(tmp_path, x), y, architecture="mlp", hyperparameters=hp)

    assert (
        on_disk.split_sizes == in_memory.split_sizes == {"train": 84, "validation": 18, "test": 18}
    )
    assert on_disk.test_indices.tolist() == in_memory.test_indices.tolist()
    assert on_disk.test_metrics["test_accuracy"] > 0.9 and on_disk.test_metrics["test_loss"] > 0
    assert [row["epoch"] for row in on_disk.history] == [1, 2, 3, 4]
    assert normalization(on_disk.model) == pytest.approx(normalization(in_memory.model), rel=1e-5)
    # every row went through the reader (the statistics, 4 epochs of training and validation,
    # the test), a batch or a chunk at a time; TensorFlow reads two batches more of each to
    # learn their shapes
    assert sum(read) >= 84 + 4 * (84 + 18) + 18 and max(read) <= 84


def test_a_mapped_x_is_never_converted_whole(tmp_path, monkeypatch):
    """A float64 file: converting it to float32 in one go would copy it all into memory."""
    x, y = blobs(classes=2)

    def refuse(self, *args, **kwargs):
        raise AssertionError("the mapped array was converted whole")

    monkeypatch.setattr(np.memmap, "astype", refuse)
    result = trainer.train(
        mapped(tmp_path, x.astype(np.float64)),
        y,
        architecture="linear",
        hyperparameters={"epochs": 5, "learning_rate": 0.1},
    )

    assert result.test_metrics["test_accuracy"] > 0.9


def test_a_mapped_x_keeps_a_recorded_split_and_stops_early(tmp_path):
    x, y = noise()
    split = fixed_split(len(x), validation=40, test=20)
    hp = {"epochs": 40, "learning_rate": 0.05, "hidden_units": 64, "dropout": 0}
    hp.update(batch_size=16, early_stopping_patience=2)

    result = trainer.train(
        mapped(tmp_path, x), y, architecture="mlp", hyperparameters=hp, split=split
    )

    assert result.split_sizes == {"train": 100, "validation": 40, "test": 20}
    assert result.test_indices.tolist() == np.flatnonzero(split == 2).tolist()
    val_losses = [row["val_loss"] for row in result.history]
    assert result.stopped_epoch is not None and result.stopped_epoch < 40
    assert result.best_epoch == int(np.argmin(val_losses)) + 1
    assert result.stopped_epoch == len(val_losses) == result.best_epoch + 2
    validation = split == 1
    loss, _ = result.model.evaluate(x[validation], y[validation], batch_size=16, verbose=0)
    assert loss == pytest.approx(min(val_losses), rel=1e-4)  # the best epoch's weights
    assert set(result.test_metrics) == {"test_loss", "test_accuracy"}


def test_a_mapped_x_reports_every_batch_and_stops_when_asked(tmp_path):
    x, y = blobs()
    seen = []

    result = trainer.train(
        mapped(tmp_path, x),
        y,
        architecture="linear",
        hyperparameters={"epochs": 5, "batch_size": 20},
        on_batch=lambda *args: seen.append(args),
        should_stop=lambda: len(seen) >= 7,
    )

    # 84 training rows in batches of 20: the last of the 5 holds 4
    assert result.cancelled and result.test_metrics == {}
    assert seen == [(1, b, 5, 20) for b in range(1, 6)] + [(2, 1, 5, 20), (2, 2, 5, 20)]


def test_a_model_trained_from_disk_reloads_in_safe_mode(tmp_path):
    x, y = blobs()
    result = trainer.train(
        mapped(tmp_path, x), y, architecture="mlp", hyperparameters={"epochs": 1}
    )

    result.model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)

    assert normalization(again) == pytest.approx(normalization(result.model))
    np.testing.assert_allclose(as_numpy(again(x[:3])), as_numpy(result.model(x[:3])), rtol=1e-5)


def test_predict_reads_the_rows_asked_for_in_their_order(tmp_path):
    x, y = blobs()
    result = trainer.train(x, y, architecture="linear", hyperparameters={"epochs": 1})
    rows = np.array([100, 3, 57, 3, 0, 119, 42])

    from_disk = trainer.predict(result.model, mapped(tmp_path, x), rows, batch_size=3)
    from_memory = trainer.predict(result.model, x, rows, batch_size=3)

    assert isinstance(from_disk, np.ndarray) and from_disk.shape == (7, 3)
    np.testing.assert_allclose(from_disk, from_memory, rtol=1e-6)
    np.testing.assert_allclose(from_disk, as_numpy(result.model(x[rows])), rtol=1e-5)


def test_batches_from_disk_cover_every_row_once_an_epoch_in_a_seeded_order(tmp_path):
    x = np.arange(50 * 3, dtype=np.float64).reshape(50, 3)  # row i starts with 3 * i
    y = np.arange(50) % 4
    rows = np.arange(5, 50)  # 45 rows: batches of 10, 10, 10, 10, 5
    batches = feeding.Rows(mapped(tmp_path, x), rows, y, batch_size=10, seed=7)

    def epoch():
        got = [batches[i] for i in range(len(batches))]
        batches.on_epoch_end()
        return got

    first, second = epoch(), epoch()
    assert len(batches) == 5 and [len(b[0]) for b in first] == [10, 10, 10, 10, 5]
    for features, labels in first + second:
        assert features.dtype == np.float32
        index = (features[:, 0] / 3).astype(int)
        assert labels.tolist() == y[index].tolist()  # each row keeps its own label
    order = [np.concatenate([(f[:, 0] / 3).astype(int) for f, _ in e]) for e in (first, second)]
    assert sorted(order[0].tolist()) == sorted(order[1].tolist()) == rows.tolist()
    assert order[0].tolist() != order[1].tolist() != rows.tolist()  # shuffled, anew each epoch
    again = feeding.Rows(mapped(tmp_path, x, "y.npy"), rows, y, batch_size=10, seed=7)
    assert np.array_equal(again[0][0], first[0][0])


def test_only_a_memmap_of_a_whole_file_is_read_from_disk(tmp_path):
    x = mapped(tmp_path, np.zeros((4, 2), dtype=np.float32))

    assert feeding.on_disk(x)
    # views of it, and arrays in memory, are used as arrays
    assert not any(feeding.on_disk(v) for v in (x[1:], np.asarray(x), np.array(x), np.zeros(3)))


def test_the_test_metrics_are_what_keras_evaluate_gives():
    x, y = blobs(classes=4, seed=3)
    result = trainer.train(x, y, architecture="mlp", hyperparameters={"epochs": 2})
    test = result.test_indices
    true_index = np.unique(y, return_inverse=True)[1][test]

    loss, accuracy = result.model.evaluate(x[test], true_index, verbose=0)

    assert result.test_metrics["test_loss"] == pytest.approx(loss, rel=1e-5)
    assert result.test_metrics["test_accuracy"] == pytest.approx(accuracy)
    assert result.test_probabilities.shape == (len(test), 4)
