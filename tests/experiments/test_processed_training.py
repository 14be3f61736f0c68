"""Training on a processed version: its recorded split is used, and the model it registers
takes raw rows, applying the recipe itself (so serving needs nothing else)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from datasets import services as dataset_services
from datasets.ingest import dataset_version_execute
from datasets.recipes import transform_rows
from experiments import services
from experiments.runner import training_run_execute
from experiments.training import trainer
from inference.loading import model_runtime_get


@pytest.fixture
def processed_digits(db):
    raw, _ = dataset_services.dataset_version_ingest(
        dataset_name="digits", source=dataset_services.IngestSource.builtin("digits")
    )
    raw = dataset_version_execute(version_id=raw.pk)
    child, _ = dataset_services.dataset_version_process(
        version=raw,
        spec={"normalize": "standard", "split": [0.6, 0.2, 0.2], "seed": 3, "reshape": [8, 8, 1]},
    )
    child = dataset_version_execute(version_id=child.pk)
    assert child.status == "READY", child.error
    return raw, child


@pytest.mark.django_db
def test_a_processed_version_records_its_fitted_recipe_and_split(processed_digits):
    raw, child = processed_digits

    assert child.parent_id == raw.pk and child.version == 2
    assert child.schema["feature_shape"] == [8, 8, 1]
    assert child.schema["split_sizes"]["test"] == pytest.approx(1797 * 0.2, abs=10)
    recipe = child.recipe
    assert recipe["input_shape"] == [64] and recipe["output_shape"] == [8, 8, 1]
    assert (
        recipe["normalize"]["method"] == "standard" and recipe["normalize"]["fitted_on"] == "train"
    )
    assert 0 in recipe["normalize"]["constant_features"]  # the digits' blank corner pixel
    assert np.isfinite(child.stats["overall"]["max"])

    again, created = dataset_services.dataset_version_process(
        version=raw,
        spec={"reshape": [8, 8, 1], "split": [0.6, 0.2, 0.2], "seed": 3, "normalize": "standard"},
    )
    assert not created and again.pk == child.pk


@pytest.mark.django_db
def test_a_model_trained_on_processed_data_takes_raw_rows(
    processed_digits, django_capture_on_commit_callbacks
):
    raw, child = processed_digits
    run = services.training_run_create(
        experiment_name="processed",
        dataset_version=child,
        model_name="digits-cnn",
        architecture="cnn",
        hyperparameters={"epochs": 2, "filters": 8, "dense_units": 16},
    )

    with django_capture_on_commit_callbacks(execute=True):
        run = training_run_execute(run_id=run.pk)

    assert run.status == "SUCCEEDED", run.error
    sizes = child.schema["split_sizes"]
    assert run.metrics["split_sizes"] == sizes  # the recorded split, not one drawn again
    version = run.model_version
    assert version.signature["input_shape"] == [64]  # raw rows

    rows = load_digits().data[:50].astype(np.float32)
    served = model_runtime_get(version)
    _, from_raw = served.predict(rows)
    inner = served.model.get_layer("cnn")  # the network as trained, on processed rows
    from_processed = np.asarray(inner(transform_rows(rows, child.recipe), training=False))
    np.testing.assert_allclose(from_raw, from_processed, rtol=1e-4, atol=1e-5)


def test_chained_recipes_are_applied_in_order_inside_the_model():
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    first = {
        "input_shape": [4],
        "output_shape": [4],
        "normalize": {"offset": [1.0, 2.0, 3.0, 4.0], "scale": [2.0, 1.0, 0.5, 4.0]},
    }
    second = {"input_shape": [4], "output_shape": [2, 2], "normalize": None}
    import keras

    inner = keras.Sequential([keras.Input((2, 2)), keras.layers.Flatten()], name="inner")

    wrapped = trainer.with_input_transforms(inner, [first, second])

    expected = ((x - np.array([1, 2, 3, 4])) / np.array([2, 1, 0.5, 4])).reshape(20, 4)
    np.testing.assert_allclose(np.asarray(wrapped(x)), expected, rtol=1e-5)
    back = trainer.invert_transforms(expected.reshape(20, 2, 2), [first, second])
    np.testing.assert_allclose(back, x, rtol=1e-5, atol=1e-5)


def test_the_recipe_layers_keep_tiny_and_huge_scales_exact():
    import keras

    x = np.array([[1.5e-8, 3e20, 5.0]], dtype=np.float32)
    recipe = {
        "input_shape": [3],
        "output_shape": [3],
        "normalize": {"offset": [1e-8, 2e20, 5.0], "scale": [5e-9, 1e20, 1.0]},
    }
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Identity()], name="inner")

    wrapped = trainer.with_input_transforms(inner, [recipe])

    np.testing.assert_allclose(np.asarray(wrapped(x)), [[1.0, 1.0, 0.0]], rtol=1e-5, atol=1e-6)


@pytest.mark.django_db
def test_a_model_trained_on_a_named_table_knows_its_raw_feature_names(
    django_capture_on_commit_callbacks,
):
    import io

    rng = np.random.default_rng(1)
    kind = rng.integers(0, 3, size=90)
    petal, sepal = rng.normal(size=90) + kind * 3, rng.normal(size=90) - kind
    csv = "petal,sepal,kind\n" + "".join(
        f"{p:.4f},{s:.4f},k{k}\n" for p, s, k in zip(petal, sepal, kind, strict=True)
    )
    raw, _ = dataset_services.dataset_version_ingest(
        dataset_name="flowers",
        source=dataset_services.IngestSource.upload(
            io.BytesIO(csv.encode()), "flowers.csv", label_column="kind"
        ),
    )
    raw = dataset_version_execute(version_id=raw.pk)
    child, _ = dataset_services.dataset_version_process(version=raw, spec={"normalize": "minmax"})
    child = dataset_version_execute(version_id=child.pk)
    run = services.training_run_create(
        experiment_name="flowers",
        dataset_version=child,
        model_name="flowers",
        architecture="linear",
        hyperparameters={"epochs": 2},
    )

    with django_capture_on_commit_callbacks(execute=True):
        run = training_run_execute(run_id=run.pk)

    assert run.status == "SUCCEEDED", run.error
    signature = run.model_version.signature
    assert signature["feature_names"] == ["petal", "sepal"]  # the raw table's, not processed
    assert signature["classes"] == ["k0", "k1", "k2"]
