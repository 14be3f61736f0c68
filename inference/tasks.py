from celery import shared_task

from . import cli


@shared_task(name="inference.tasks.serve_prediction")
def serve_prediction(request_id: str, request: dict) -> None:
    """Answer a prediction that ``manage.py predict`` offered to the workers, unless the
    command stopped waiting and answers it itself (see ``inference.cli``)."""
    cli.prediction_serve_offered(request_id=request_id, request=request)
