"""A training run executed in this process, as a training worker would: real Keras, real
storage, real MLflow."""

from types import SimpleNamespace

import mlflow
import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from experiments import services
from experiments.models import TrainingRun
from experiments.runner import training_run_execute
from hpml_portal.storage import local_copy, sha256_file
from models_registry.models import ModelVersion
from models_registry.services import model_version_mirror
from tests.helpers import queued_tasks, stored_keys


@pytest.fixture
def queued_run(db, ready_version):
    return services.training_run_create(
        experiment_name="runner-test",
        dataset_version=ready_version,
        model_name="blobs-model",
        hyperparameters={"epochs": 3, "batch_size": 16, "learning_rate": 0.01},
    )


@pytest.mark.django_db
def test_a_run_trains_tracks_stores_and_registers_a_model(
    queued_run, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = training_run_execute(run_id=queued_run.pk, worker="test-worker")

    assert run.status == "SUCCEEDED", run.error
    assert run.progress == 1.0 and run.current_epoch == 3 and len(run.history) == 3
    train_rows = run.metrics["split_sizes"]["train"]
    assert run.batches_per_epoch == -(-train_rows // 16)  # batches of 16, the last one short
    assert run.backend == "tensorflow" and run.devices and run.distribution == "single"
    assert run.metrics["test_accuracy"] > 0.8
    version = run.model_version
    assert (version.model.name, version.version) == ("blobs-model", 1)
    assert version.signature == {
        "input_shape": [8],
        "input_dtype": "float32",
        "classes": [0, 1, 2],
        "outputs": 3,
    }
    assert version.dataset_version_id == queued_run.dataset_version_id
    with local_copy(version.artifact.name) as path:
        assert sha256_file(path) == version.sha256
    client = mlflow.MlflowClient(settings.MLFLOW_TRACKING_URI)
    tracked = client.get_run(run.mlflow_run_id)
    assert run.experiment.mlflow_experiment_id == tracked.info.experiment_id
    assert tracked.data.params["epochs"] == "3"
    assert len(client.get_metric_history(run.mlflow_run_id, "accuracy")) == 3
    assert tracked.data.metrics["test_accuracy"] == pytest.approx(run.metrics["test_accuracy"])
    assert tracked.info.status == "FINISHED"
    # Judged on the test split: per class, and where the mistakes go.
    per_class, matrix = run.metrics["per_class"], run.metrics["confusion_matrix"]
    assert set(per_class) == {"0", "1", "2"} and len(matrix) == 3
    assert sum(map(sum, matrix)) == run.metrics["split_sizes"]["test"]
    assert sum(c["support"] for c in per_class.values()) == run.metrics["split_sizes"]["test"]
    assert version.metrics["confusion_matrix"] == matrix
    # Named by the portal run and the dataset version, not by the process that ran it.
    assert tracked.data.tags["mlflow.source.name"] == f"hpml-portal run {run.pk}"
    assert tracked.data.tags["hpml.dataset_sha256"] == queued_run.dataset_version.sha256
    (logged,) = tracked.inputs.dataset_inputs
    assert logged.dataset.name == "blobs:1"
    assert logged.dataset.digest == queued_run.dataset_version.sha256[:20]
    plots = {a.path for a in client.list_artifacts(run.mlflow_run_id, "plots")}
    assert plots == {"plots/training_curves.png", "plots/confusion_matrix.png"}
    assert "test_macro_f1" in tracked.data.metrics
    # The MLflow registry gets the version from a task queued once ours is committed.
    assert ("models_registry.tasks.mirror_version", [version.pk]) in queued_tasks("default")
    mlflow_version = model_version_mirror(version_id=version.pk)
    mlflow_name = version.model.mlflow_name
    assert mlflow_name == "default.blobs-model"
    assert client.get_model_version(mlflow_name, mlflow_version).run_id == run.mlflow_run_id
    assert model_version_mirror(version_id=version.pk) == mlflow_version  # once only


@pytest.mark.django_db
def test_a_run_that_is_not_queued_is_not_trained(queued_run):
    services.training_run_cancel(run=queued_run)

    assert training_run_execute(run_id=queued_run.pk) is None
    queued_run.refresh_from_db()
    assert queued_run.status == "CANCELLED" and queued_run.started_at is None


@pytest.mark.django_db
def test_a_cancel_request_stops_the_run_at_a_batch_boundary(queued_run):
    TrainingRun.objects.filter(pk=queued_run.pk).update(
        cancel_requested=True, hyperparameters={**queued_run.hyperparameters, "epochs": 50}
    )

    run = training_run_execute(run_id=queued_run.pk)

    assert run.status == "CANCELLED"
    assert run.current_epoch < 50
    assert not ModelVersion.objects.exists()
    assert stored_keys("models") == []
    client = mlflow.MlflowClient(settings.MLFLOW_TRACKING_URI)
    assert client.get_run(run.mlflow_run_id).info.status == "KILLED"


@pytest.mark.django_db
def test_a_cancel_that_arrives_after_the_last_batch_still_cancels(queued_run, monkeypatch):
    # The request lands while the model is being saved: after training, before registration.
    from experiments import runner

    store = runner._store_model

    def store_then_cancel(model, model_name):
        stored = store(model, model_name)
        services.training_run_cancel(run=TrainingRun.objects.get(pk=queued_run.pk))
        return stored

    monkeypatch.setattr(runner, "_store_model", store_then_cancel)

    run = training_run_execute(run_id=queued_run.pk)

    assert run.status == "CANCELLED"
    assert not ModelVersion.objects.exists()
    assert stored_keys("models") == []


@pytest.mark.django_db
def test_a_run_whose_data_went_missing_fails_with_the_error(queued_run):
    default_storage.delete(queued_run.dataset_version.file.name)

    run = training_run_execute(run_id=queued_run.pk)

    assert run.status == "FAILED" and run.error
    assert run.finished_at is not None
    assert not TrainingRun.objects.filter(model_version__isnull=False).exists()


def test_progress_within_an_epoch_counts_batches_and_paces_the_rest(monkeypatch):
    from experiments import runner

    clock = iter([0.0, 100.0, 102.0])  # made, first batch ends, asked
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    run = TrainingRun(pk=1, hyperparameters={"epochs": 2})
    progress = runner._Progress(run, tracker=None)

    progress.batch(1, 1, 10, 32)  # the first batch ends at t=100
    progress.batch(1, 2, 10, 32)

    # At t=102 one more batch has ended in the 2 s since the first: half a batch a second,
    # 18 of 20 to go.
    assert progress.within_epoch() == {
        "batches_done": 2,
        "batches_per_epoch": 10,
        "progress": 0.1,
        "samples_per_second": 16.0,
        "eta_seconds": 36.0,
    }


def test_a_run_that_stopped_early_reports_the_epoch_its_model_keeps():
    from experiments import runner
    from experiments.training.trainer import TrainResult

    history = [{"epoch": e, "val_loss": loss} for e, loss in enumerate([0.9, 0.5, 0.7, 0.8], 1)]
    result = TrainResult(
        model=None, classes=[0, 1], input_shape=[2], history=history, best_epoch=2, stopped_epoch=4
    )

    metrics = runner._final_metrics(result)

    assert metrics["val_loss"] == 0.5 and (metrics["best_epoch"], metrics["stopped_epoch"]) == (
        2,
        4,
    )
