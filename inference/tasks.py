from celery import shared_task

from . import cli, retention


@shared_task(name="inference.tasks.serve_prediction")
def serve_prediction(request_id: str, request: dict) -> None:
    """Answer a prediction that ``manage.py predict`` offered to the workers, unless the
    command stopped waiting and answers it itself (see ``inference.cli``)."""
    cli.prediction_serve_offered(request_id=request_id, request=request)


@shared_task(name="inference.tasks.prune_prediction_log")
def prune_prediction_log() -> None:
    """Delete logged predictions past PREDICTION_LOG_RETENTION_DAYS and fold older serving
    counts into days (run every hour by beat)."""
    retention.prediction_log_prune()
