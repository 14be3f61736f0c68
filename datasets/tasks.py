import socket

from celery import shared_task
from django.conf import settings

from . import services
from .models import DatasetVersion


@shared_task(
    bind=True,
    name="datasets.tasks.ingest",
    max_retries=3,
    soft_time_limit=settings.INGEST_TIME_LIMIT,
    time_limit=settings.INGEST_TIME_LIMIT + 60,
)
def ingest(self, version_id: int) -> None:
    """Fetch, check, describe and store a PENDING version (``ingest.dataset_version_execute``):
    an upload, a URL, a query, a built-in data set or a recipe applied to its parent.

    Only passing errors (storage, a server's 5xx, the database) are retried, with backoff; the
    last one ends the version FAILED, keeping its source so that it can be retried by hand.
    An ingest that runs past INGEST_TIME_LIMIT seconds ends FAILED (a source that trickles).
    """
    from .ingest import IngestInterrupted, dataset_version_execute

    try:
        dataset_version_execute(
            version_id=version_id, worker=self.request.hostname or socket.gethostname()
        )
    except DatasetVersion.DoesNotExist:
        return
    except IngestInterrupted as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
        services.dataset_version_fail(
            version_id=version_id,
            error=f"gave up after {self.max_retries + 1} tries: {exc}",
            keep_source=True,
            # Unless a worker claimed it meanwhile (from a message sent again).
            only_from=[DatasetVersion.Status.PENDING],
        )
