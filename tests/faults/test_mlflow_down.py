"""The MLflow tracking server going away under a training worker: an ``mlflow server`` of this
module's own behind a proxy that is cut and restored. MLflow's client retries for minutes by
default; here it tries once (``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0``), so the run fails at
once, saying which service to wait for, and can be retried."""

import os

import pytest
import requests

from experiments.models import TrainingRun
from experiments.services import training_run_create
from tests.faults.conftest import (
    BIN,
    Process,
    TcpProxy,
    celery_worker,
    free_port,
    job_ended,
    mlflow_run_status,
    ready_version,
    running,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DOWN = "the MLflow tracking server cannot be reached"


@pytest.fixture(scope="module")
def mlflow(fault_dir):
    """The tracking server's proxy; its URL is the workers' MLFLOW_TRACKING_URI."""
    port = free_port()
    server = Process(
        "mlflow server",
        [
            str(BIN / "mlflow"),
            "server",
            *("--backend-store-uri", f"sqlite:///{fault_dir / 'mlflow.db'}"),
            *("--default-artifact-root", (fault_dir / "mlartifacts").as_uri()),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        ],
        {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        fault_dir / "mlflow.log",
    )
    with running(server):
        wait_for(lambda: _healthy(port), timeout=90, interval=0.5, message="mlflow server")
        proxy = TcpProxy(port)
        proxy.url = f"http://127.0.0.1:{proxy.port}"
        yield proxy
        proxy.cut()


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok
    except requests.RequestException:  # not listening yet, or still starting
        return False


@pytest.fixture(scope="module")
def worker(worker_env, mlflow, fault_dir):
    env = {
        **worker_env,
        "MLFLOW_TRACKING_URI": mlflow.url,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }
    with running(celery_worker(env, fault_dir / "worker.log")) as worker:
        yield worker


def test_a_run_fails_saying_mlflow_cannot_be_reached_when_it_is_down(worker, mlflow, small_npz):
    version = ready_version("blobs", small_npz)

    mlflow.cut()
    try:
        run = training_run_create(
            experiment_name="faults",
            dataset_version=version,
            model_name="untracked",
            hyperparameters={"epochs": 2},
        )
        failed = job_ended(TrainingRun, run.pk, timeout=120)
    finally:
        mlflow.restore()

    assert failed.status == "FAILED"
    assert failed.error.startswith(DOWN) and failed.error.endswith("retry the run once it is back")
    assert "\n" not in failed.error and "127.0.0.1" not in failed.error


def test_mlflow_lost_mid_run_fails_the_run_and_its_mlflow_run_is_closed_once_it_is_back(
    worker, mlflow, small_npz
):
    version = ready_version("blobs", small_npz)
    run = training_run_create(
        experiment_name="faults",
        dataset_version=version,
        model_name="cut-off",
        hyperparameters={"epochs": 1000, "batch_size": 1},  # minutes: it never ends by itself
    )
    wait_for(
        lambda: TrainingRun.objects.filter(pk=run.pk, current_epoch__gte=2).exclude(
            mlflow_run_id=""
        ),
        timeout=120,
        message="the run to log epochs to MLflow",
    )

    mlflow.cut()
    try:
        failed = job_ended(TrainingRun, run.pk, timeout=60)
    finally:
        mlflow.restore()

    assert failed.status == "FAILED" and failed.error.startswith(DOWN), failed.error
    # Its worker could not end it in MLflow; a task does, once MLflow answers again.
    wait_for(
        lambda: mlflow_run_status(mlflow.url, failed.mlflow_run_id) == "FAILED",
        timeout=60,
        interval=0.5,
        message="the MLflow run to be closed",
    )
