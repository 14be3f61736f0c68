import logging
import socket

from celery import shared_task
from django.conf import settings

from . import services, sweeps
from .models import TrainingRun

logger = logging.getLogger(__name__)


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
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, as the runner's
        services.training_run_fail(run_id=run_id, error=reason)
        raise
    finally:
        _settle_sweep_of(run_id)


def _settle_sweep_of(run_id: int) -> None:
    """The run may have been its sweep's last: settle the sweep here, or from the queue when
    that fails (MLflow or the database hiccuped)."""
    sweep_id = None
    try:
        sweep_id = TrainingRun.objects.filter(pk=run_id).values_list("sweep_id", flat=True).first()
        if sweep_id is not None:
            sweeps.sweep_settle(sweep_id=sweep_id)
    except Exception:
        logger.exception("could not settle the sweep of run %s", run_id)
        if sweep_id is not None:
            sweeps.settle_later(sweep_id)


@shared_task(
    name="experiments.tasks.end_mlflow_run",
    autoretry_for=(Exception,),
    # Backing off up to ten minutes between tries: MLflow may be down for a while (it is
    # often why the run could not be ended there by its worker).
    max_retries=10,
    retry_backoff=True,
)
def end_mlflow_run(mlflow_run_id: str, status: str) -> None:
    """Mark an MLflow run ended, for runs closed without their worker (the reaper), or whose
    worker could not reach MLflow when the run failed."""
    from hpml_portal import mlflow_client

    mlflow_client.terminate_run(mlflow_run_id, status)


@shared_task(
    name="experiments.tasks.settle_sweep",
    autoretry_for=(Exception,),
    max_retries=5,
    retry_backoff=True,
)
def settle_sweep(sweep_id: int) -> None:
    """End a sweep's MLflow run once all its runs have ended (``sweeps.sweep_settle``)."""
    sweeps.sweep_settle(sweep_id=sweep_id)
