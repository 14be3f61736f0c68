import socket

from celery import shared_task
from django.conf import settings

from . import services
from .models import TrainingRun


@shared_task(
    bind=True,
    name="experiments.tasks.train_run",
    acks_late=True,
    soft_time_limit=settings.TRAINING_TIME_LIMIT,
    time_limit=settings.TRAINING_TIME_LIMIT + 120,
    # The run's status in our database is the truth: a redelivered message finds the run
    # already claimed and does nothing.
    reject_on_worker_lost=False,
)
def train_run(self, run_id: int) -> None:
    """Train a QUEUED run on this worker (``runner.training_run_execute``)."""
    if not TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).exists():
        return  # cancelled, ended or taken: a message sent again costs no Keras import
    from .runner import training_run_execute  # loads Keras: only ever inside the task

    try:
        training_run_execute(run_id=run_id, worker=self.request.hostname or socket.gethostname())
    except Exception as exc:  # e.g. the database went away mid-run
        services.training_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")
        raise


@shared_task(
    name="experiments.tasks.end_mlflow_run",
    autoretry_for=(Exception,),
    max_retries=5,
    retry_backoff=True,
)
def end_mlflow_run(mlflow_run_id: str, status: str) -> None:
    """Mark an MLflow run ended, for runs closed without their worker (the reaper)."""
    from hpml_portal import mlflow_client

    mlflow_client.terminate_run(mlflow_run_id, status)
