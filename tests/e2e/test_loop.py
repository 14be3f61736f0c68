"""The whole loop through real processes: the API or the commands in this process, a real
Celery worker in another, PostgreSQL, S3, Redis and MLflow in between."""

import json
from io import StringIO

import mlflow
import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from sklearn.datasets import load_digits

from inference.models import PredictionLog
from models_registry.models import ModelVersion
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def poll(api_client, url: str, statuses: set[str], timeout: float) -> dict:
    def ended():
        body = api_client.get(url).json()
        return body if body["status"] in statuses else None

    return wait_until(ended, timeout=timeout, message=f"{url} to reach {statuses}")


def test_ingest_train_promote_and_predict_through_the_api(alive, api_client):
    dataset = api_client.post("/api/v1/datasets/", {"name": "digits"}, format="json")
    assert dataset.status_code == 201, dataset.content
    answer = api_client.post(
        f"/api/v1/datasets/{dataset.json()['id']}/versions/", {"builtin": "digits"}, format="json"
    )
    assert answer.status_code == 202, answer.content
    version = poll(
        api_client,
        f"/api/v1/dataset-versions/{answer.json()['id']}/",
        {"READY", "FAILED"},
        timeout=120,
    )
    assert version["status"] == "READY", version["error"]

    experiment = api_client.post("/api/v1/experiments/", {"name": "digits"}, format="json").json()
    answer = api_client.post(
        f"/api/v1/experiments/{experiment['id']}/runs/",
        {
            "dataset_version": version["id"],
            "architecture": "mlp",
            "model_name": "digits",
            "hyperparameters": {"epochs": 8, "learning_rate": 0.005},
        },
        format="json",
        HTTP_X_REQUEST_ID="e2e-train-1",
    )
    assert answer.status_code == 202, answer.content
    assert answer["X-Request-ID"] == "e2e-train-1"
    run = poll(
        api_client,
        f"/api/v1/runs/{answer.json()['id']}/",
        {"SUCCEEDED", "FAILED", "CANCELLED"},
        timeout=300,
    )
    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["progress"] == 1.0 and run["model_version"] == 1 and run["mlflow_run_id"]

    promoted = api_client.post(
        "/api/v1/models/digits/versions/1/aliases/", {"alias": "production"}, format="json"
    )
    assert promoted.status_code == 201, promoted.content

    digits = load_digits()
    rows = np.arange(0, 1797, 90)
    answer = api_client.post(
        "/api/v1/models/digits/predict/",
        {"instances": digits.data[rows].tolist()},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["model"] == "digits" and body["version"] == 1
    accuracy = np.mean(np.array(body["predictions"]) == digits.target[rows])
    assert accuracy >= 0.8
    assert np.allclose(np.sum(body["probabilities"], axis=1), 1.0, atol=1e-3)
    assert PredictionLog.objects.filter(outcome="ok", instances=len(rows)).count() == 1

    # The worker mirrors the alias to the MLflow registry after the promotion commits.
    client = mlflow.MlflowClient(settings.MLFLOW_TRACKING_URI)
    registered = ModelVersion.objects.get(model__name="digits", version=1)
    # MLflow's model names are global: the registry mirrors the team's model as team.name.
    wait_until(
        lambda: (
            _mlflow_alias(client, "default.digits", "production")
            == ModelVersion.objects.get(pk=registered.pk).mlflow_version
        ),
        timeout=60,
        message="the MLflow alias",
    )
    tracked = client.get_run(run["mlflow_run_id"]).data
    assert tracked.metrics["test_accuracy"] > 0.8
    # The worker held the id of the request that queued the run (from the task's message).
    assert tracked.tags["hpml.request_id"] == "e2e-train-1"


def _mlflow_alias(client, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def test_the_same_loop_through_the_commands(alive, tmp_path):
    out = StringIO()
    call_command(
        "ingest_dataset", "digits", "--builtin", "digits", "--wait", "--timeout", "120", stdout=out
    )
    assert out.getvalue().splitlines()[-1] == "READY"

    out = StringIO()
    call_command(
        "train",
        "--dataset",
        "digits",
        "--experiment",
        "cli",
        "--model-name",
        "digits",
        "--param",
        "epochs=3",
        "--wait",
        "--timeout",
        "300",
        stdout=out,
    )
    lines = out.getvalue().splitlines()
    assert lines[-1] == "SUCCEEDED", lines
    assert "registered digits version 1" in lines[-2]

    out = StringIO()
    call_command("promote", "digits", "1", "--comment", "from the test", stdout=out)
    assert out.getvalue().strip() == "digits@production: nothing -> version 1"

    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps({"instances": load_digits().data[:3].tolist()}))
    out = StringIO()
    call_command("predict", "digits", "--input", str(rows), stdout=out)
    answer = json.loads(out.getvalue())
    assert answer["version"] == 1 and len(answer["predictions"]) == 3


def test_a_running_run_is_cancelled_through_the_api(alive, api_client):
    call_command(
        "ingest_dataset",
        "digits",
        "--builtin",
        "digits",
        "--wait",
        "--timeout",
        "120",
        stdout=StringIO(),
    )
    out = StringIO()
    call_command(
        "train",
        "--dataset",
        "digits",
        "--experiment",
        "cancel",
        "--model-name",
        "slow",
        "--param",
        "epochs=1000",
        "--param",
        "batch_size=8",
        stdout=out,
    )
    run_id = int(out.getvalue().splitlines()[-1])
    url = f"/api/v1/runs/{run_id}/"
    wait_until(
        lambda: api_client.get(url).json()["current_epoch"] >= 1,
        timeout=120,
        message="the first epoch",
    )

    answer = api_client.post(f"{url}cancel/")

    assert answer.status_code == 200 and answer.json()["cancel_requested"]
    run = poll(api_client, url, {"SUCCEEDED", "FAILED", "CANCELLED"}, timeout=60)
    assert run["status"] == "CANCELLED" and run["current_epoch"] < 1000
    assert run["model_version"] is None
    assert not ModelVersion.objects.filter(model__name="slow").exists()


def test_a_sweep_runs_on_the_worker_and_its_best_run_is_registered(alive):
    out = StringIO()
    call_command(
        "ingest_dataset", "digits", "--builtin", "digits", "--wait", "--timeout", "120", stdout=out
    )
    out = StringIO()
    call_command(
        "sweep",
        "--dataset",
        "digits",
        "--experiment",
        "cli-sweep",
        "--model-name",
        "digits-swept",
        "--architecture",
        "linear",
        "--space",
        '{"learning_rate": [0.0001, 0.01], "epochs": 2}',
        "--wait",
        "--timeout",
        "300",
        "--register-best",
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    assert lines[-2] == "SUCCEEDED", lines
    assert lines[-1] == "registered digits-swept version 1"
    assert sum(line.startswith("run ") and "SUCCEEDED" in line for line in lines) == 2
    version = ModelVersion.objects.get(model__name="digits-swept")
    sweep = version.run.sweep
    client = mlflow.MlflowClient(settings.MLFLOW_TRACKING_URI)
    # The worker that ended the last run closed the sweep's MLflow run.
    parent = wait_until(
        lambda: (run := client.get_run(sweep.mlflow_run_id)).info.status == "FINISHED" and run,
        timeout=30,
        message="the sweep's MLflow run to end",
    )
    assert parent.data.tags["hpml.best_run_id"] == str(version.run_id)
