from celery import shared_task

from . import services
from .models import DatasetVersion


@shared_task(bind=True, name="datasets.tasks.ingest", max_retries=3)
def ingest(self, version_id: int) -> None:
    """Check a stored dataset file and record its schema (``dataset_version_ingest_file``).

    Errors that are not about the file itself (storage or database unreachable) are retried
    with backoff; the last one ends the version FAILED with the error.
    """
    try:
        services.dataset_version_ingest_file(version_id=version_id)
    except DatasetVersion.DoesNotExist:
        return
    except Exception as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
        services.dataset_version_fail(version_id=version_id, error=f"ingestion failed: {exc}")
