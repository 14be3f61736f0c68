"""The broker going away under a web process and the commands: a Redis of this module's own,
stopped and started again (losing what it held, as a broker without persistence does).

What is refused while it is down is refused whole: the API answers 503 and the command one
line, and the job the request made ends FAILED, saying why, rather than waiting forever for
a message that was never sent; it is retried once the broker is back. An alias move is
answered (our registry is the truth) and reaches MLflow's registry from the catch-up."""

import shutil
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from datasets.models import DatasetVersion
from experiments.models import TrainingRun
from experiments.services import experiment_get_or_create
from models_registry.models import ModelAlias
from models_registry.services import mirror_catch_up, model_alias_delete
from tests.factories import ModelVersionFactory
from tests.faults.conftest import (
    RedisServer,
    Web,
    celery_worker,
    json_error,
    manage,
    one_line_error,
    ready_version,
    running,
    wait_for,
)
from tests.helpers import celery_broker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DOWN = "broker cannot be reached"


@pytest.fixture(scope="module")
def broker(fault_dir):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: no broker of the test's own to stop")
    server = RedisServer(fault_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(worker_env, broker):
    return {**worker_env, "CELERY_BROKER_URL": broker.url}


@pytest.fixture(scope="module")
def web(env, fault_dir):
    with running(Web(env, fault_dir / "web.log")) as web:
        yield web


def test_submissions_with_the_broker_down_answer_503_and_leave_no_job_waiting(
    web, http, broker, env, small_npz
):
    version = ready_version("blobs", small_npz)
    experiment = experiment_get_or_create(name="faults")
    run_request = {
        "dataset_version": version.pk,
        "architecture": "mlp",
        "model_name": "blobs",
        "hyperparameters": {"epochs": 1},
    }

    broker.stop()
    try:
        ingest = http.post(
            web.url(f"/api/v1/datasets/{version.dataset_id}/versions/"),
            json={"builtin": "digits"},
            timeout=60,
        )
        run = http.post(
            web.url(f"/api/v1/experiments/{experiment.pk}/runs/"), json=run_request, timeout=60
        )
        ingest_command = manage("ingest_dataset", "digits", "--builtin", "digits", env=env)
        train_command = manage(
            "train", "--dataset", "blobs", "--experiment", "cli", "--model-name", "m", env=env
        )
    finally:
        broker.start()

    detail = json_error(ingest, 503)
    assert DOWN in detail and "/retry/" in detail
    assert DOWN in json_error(run, 503)
    assert DOWN in one_line_error(ingest_command)
    assert DOWN in one_line_error(train_command)
    assert not DatasetVersion.objects.filter(status=DatasetVersion.Status.PENDING).exists()
    assert not TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED).exists()
    refused = [
        *DatasetVersion.objects.filter(status="FAILED").values_list("error", flat=True),
        *TrainingRun.objects.filter(status="FAILED").values_list("error", flat=True),
    ]
    assert len(refused) == 4 and all("could not queue" in error for error in refused)

    # Once the broker is back, the refused jobs are retried and their messages go.
    failed_version = DatasetVersion.objects.get(dataset_id=version.dataset_id, status="FAILED")
    failed_run = TrainingRun.objects.get(experiment=experiment, status="FAILED")
    retried = http.post(web.url(f"/api/v1/dataset-versions/{failed_version.pk}/retry/"))
    assert retried.status_code == 202, retried.text
    rerun = http.post(web.url(f"/api/v1/runs/{failed_run.pk}/retry/"))
    assert rerun.status_code == 202, rerun.text
    assert ("datasets.tasks.ingest", [failed_version.pk]) in broker.queued("default")
    assert ("experiments.tasks.train_run", [rerun.json()["id"]]) in broker.queued("training")


def mlflow_alias(name: str, alias: str) -> str | None:
    client = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def test_an_alias_moved_while_the_broker_is_down_reaches_mlflow_once_it_is_back(
    web, http, broker, env, fault_dir, tmp_path, team
):
    model = f"outage-{uuid.uuid4().hex[:8]}"  # MLflow's store is the whole run's: a new name
    name = f"default.{model}"
    client = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
    client.create_registered_model(name)
    in_mlflow = str(client.create_model_version(name, source=tmp_path.as_uri()).version)
    version = ModelVersionFactory(
        model__team=team,
        model__name=model,
        mlflow_version=in_mlflow,
        mlflow_model_uri=f"models:/{name}/{in_mlflow}",
        mirror_state="ok",
    )

    broker.stop()
    try:
        moved = http.post(
            web.url(f"/api/v1/models/{model}/versions/{version.version}/aliases/"),
            json={"alias": "staging", "comment": "while the broker is down"},
            timeout=60,
        )
    finally:
        broker.start()

    assert moved.status_code == 201, moved.text  # our registry is the truth
    assert ModelAlias.objects.get(alias="staging").mirror_state == "pending"
    assert mlflow_alias(name, "staging") is None

    with running(celery_worker(env, fault_dir / "mirror-worker.log", "default")):
        # The beat's round (every five minutes, for mirrors five minutes old), run now.
        with celery_broker(broker.url):
            queued = mirror_catch_up(older_than=timedelta(0))
        assert f"alias {version.model_id}@staging" in queued
        wait_for(
            lambda: ModelAlias.objects.get(alias="staging").mirror_state == "ok",
            timeout=60,
            message="the alias to be mirrored",
        )
    assert mlflow_alias(name, "staging") == in_mlflow

    # A removal leaves no row to say its mirror is pending: the catch-up finds it anyway.
    broker.stop()
    try:
        with celery_broker(broker.url):
            model_alias_delete(model=version.model, alias="staging")
    finally:
        broker.start()
    assert mlflow_alias(name, "staging") == in_mlflow

    assert f"removed alias {version.model_id}@staging" in mirror_catch_up(older_than=timedelta(0))
    assert mlflow_alias(name, "staging") is None
