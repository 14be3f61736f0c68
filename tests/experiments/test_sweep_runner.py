"""A sweep's runs trained in this process, as training workers would: real Keras, storage and
MLflow. The runs nest under the sweep's MLflow run, register nothing until asked, and the
sweep's MLflow run ends with the best run named once the last run has ended."""

import mlflow
import pytest
from django.conf import settings

from experiments import sweeps
from experiments.runner import training_run_execute
from experiments.selectors import sweep_best_run, sweep_list
from experiments.tasks import settle_sweep
from hpml_portal.storage import local_copy, sha256_file
from models_registry.models import ModelVersion
from models_registry.services import model_version_mirror


@pytest.mark.django_db
def test_a_sweep_trains_nested_in_mlflow_and_registers_its_best_run_on_request(
    ready_version, django_capture_on_commit_callbacks
):
    sweep = sweeps.sweep_create(
        experiment_name="sweep-runner",
        dataset_version=ready_version,
        model_name="swept",
        space={"learning_rate": [0.0001, 0.05], "epochs": 3, "batch_size": 16},
    )
    runs = list(sweep.runs.order_by("pk"))

    first = training_run_execute(run_id=runs[0].pk, worker="w1")
    settle_sweep(sweep.pk)  # one run left: the sweep's MLflow run stays open
    client = mlflow.MlflowClient(settings.MLFLOW_TRACKING_URI)
    parent_id = sweep_list(user=None).get(pk=sweep.pk).mlflow_run_id
    assert client.get_run(parent_id).info.status == "RUNNING"
    second = training_run_execute(run_id=runs[1].pk, worker="w2")
    settle_sweep(sweep.pk)

    assert first.status == second.status == "SUCCEEDED", (first.error, second.error)
    assert not ModelVersion.objects.exists()  # nothing registered by the runs themselves
    sweep = sweep_list(user=None).get(pk=sweep.pk)
    assert sweep.status == "SUCCEEDED" and sweep.mlflow_closed
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.info.run_name == f"sweep-{sweep.pk}"
    assert parent.data.params["space.learning_rate"] == "[0.0001, 0.05]"
    for run in (first, second):
        tags = client.get_run(run.mlflow_run_id).data.tags
        assert tags["mlflow.parentRunId"] == parent_id and tags["hpml.sweep_id"] == str(sweep.pk)
    best = sweep_best_run(sweep=sweep)
    assert parent.data.tags["hpml.best_run_id"] == str(best.pk)
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(best.metrics["val_accuracy"])

    with django_capture_on_commit_callbacks(execute=True):
        version, created = sweeps.sweep_register_best(sweep=sweep)

    assert created and version.run_id == best.pk and version.model.name == "swept"
    with local_copy(version.artifact.name) as path:
        assert sha256_file(path) == version.sha256
    assert version.metrics["test_accuracy"] == best.metrics["test_accuracy"]
    assert version.signature["classes"] == [0, 1, 2]
    mlflow_version = model_version_mirror(version_id=version.pk)
    assert client.get_model_version("default.swept", mlflow_version).run_id == best.mlflow_run_id
