"""A training worker killed with SIGKILL in the middle of a run: nothing in it gets to say so.
The reaper (``reap_runs``, what the beat runs every minute) ends the run FAILED once its
heartbeat is stale, and a worker of the default queue closes its MLflow run."""

import signal

import pytest
from django.conf import settings

from experiments.models import TrainingRun
from experiments.services import training_run_create
from models_registry.models import ModelVersion
from tests.faults.conftest import (
    celery_worker,
    manage,
    mlflow_run_status,
    ready_version,
    running,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STALE_AFTER = 2  # seconds without a heartbeat before the reaper fails a running job


def test_a_run_whose_worker_is_killed_is_reaped_failed_and_its_mlflow_run_closed(
    worker_env, fault_dir, small_npz
):
    # What the killed worker leaves in its temporary folder is left in the test's.
    env = {**worker_env, "RUN_STALE_AFTER": str(STALE_AFTER), "TMPDIR": str(fault_dir)}
    version = ready_version("blobs", small_npz)
    run = training_run_create(
        experiment_name="faults",
        dataset_version=version,
        model_name="killed",
        hyperparameters={"epochs": 1000, "batch_size": 1},  # minutes: it never ends by itself
    )
    with running(celery_worker(env, fault_dir / "training.log", "training")) as worker:
        wait_for(
            lambda: TrainingRun.objects.filter(
                pk=run.pk, status="RUNNING", current_epoch__gte=1
            ).exclude(mlflow_run_id=""),
            timeout=120,
            message="the run to train",
        )
        worker.signal(signal.SIGKILL)  # the worker and its pool child, at once
        worker.popen.wait()
    run.refresh_from_db()
    assert run.status == "RUNNING"  # nobody was left to say otherwise
    assert mlflow_run_status(settings.MLFLOW_TRACKING_URI, run.mlflow_run_id) == "RUNNING"

    wait_for(
        lambda: manage("reap_runs", env=env).stdout.count(f"training run {run.pk} FAILED"),
        timeout=30,
        interval=1,
        message="the reaper to fail the run",
    )

    run.refresh_from_db()
    assert run.status == "FAILED" and run.finished_at is not None
    assert run.error == f"the worker stopped sending heartbeats (none for over {STALE_AFTER}s)"
    assert not ModelVersion.objects.exists()
    # The reaper queued the end of the MLflow run for a worker of the default queue.
    with running(celery_worker(env, fault_dir / "default.log", "default")):
        wait_for(
            lambda: mlflow_run_status(settings.MLFLOW_TRACKING_URI, run.mlflow_run_id) == "FAILED",
            timeout=60,
            message="the MLflow run to be closed",
        )
