import logging
import socket

from celery import shared_task
from django.conf import settings

from . import services
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
        services.training_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        sweep_id = TrainingRun.objects.filter(pk=run_id).values_list("sweep_id", flat=True).first()
        if sweep_id is not None:  # this may have been the sweep's last run
            try:
                settle_sweep(sweep_id)
            except Exception:  # MLflow hiccuped: again from the queue, with its retries
                logger.exception("could not settle sweep %s; queueing it", sweep_id)
                settle_sweep.delay(sweep_id)


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


@shared_task(
    name="experiments.tasks.settle_sweep",
    autoretry_for=(Exception,),
    max_retries=5,
    retry_backoff=True,
)
def settle_sweep(sweep_id: int) -> None:
    """Once every run of a sweep has ended, record its best run on the sweep's MLflow parent
    run and end that run with the sweep's status. Does nothing while runs remain, and once
    done."""
    from .selectors import sweep_list

    sweep = sweep_list(user=None).filter(pk=sweep_id).first()
    if sweep is None or sweep.mlflow_closed or sweep.status not in TrainingRun.TERMINAL:
        return
    if sweep.mlflow_run_id:
        from hpml_portal import mlflow_client

        best = services.sweep_best_run(sweep)
        metrics, tags = {"runs": sweep.runs_total, "runs_succeeded": sweep.runs_succeeded}, {}
        if best is not None:
            metrics[f"best_{sweep.metric}"] = best.metrics[sweep.metric]
            tags = {"hpml.best_run_id": str(best.pk), "hpml.best_mlflow_run_id": best.mlflow_run_id}
        mlflow_client.close_parent_run(
            sweep.mlflow_run_id, sweep.status, metrics=metrics, tags=tags
        )
    type(sweep).objects.filter(pk=sweep.pk).update(mlflow_closed=True)
