"""How long the prediction log and the serving counts are kept: PREDICTION_LOG_RETENTION_DAYS.

Both grow with traffic (a logged request is a row; the counts a row per minute, model version
and status answered), and nothing reads them further back than the stats' last day. Rows older
than the retention are deleted by beat every hour, a batch at a time so that no statement holds
its locks for long; feedback on a deleted prediction goes with it.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import PredictionLog, ServingCount

logger = logging.getLogger(__name__)

BATCH = 5_000


def _delete_older(model, field: str, cutoff, batch: int) -> int:
    deleted = 0
    while True:
        old = model.objects.filter(**{f"{field}__lt": cutoff}).order_by()
        ids = list(old.values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)


def prediction_log_prune(*, now=None, batch: int = BATCH) -> dict[str, int]:
    """Delete logged predictions (with their feedback) and serving counts older than the
    retention. Returns how many of each went; nothing when the retention is 0 (keep all)."""
    days = settings.PREDICTION_LOG_RETENTION_DAYS
    if days == 0:
        return {"predictions": 0, "serving_counts": 0}
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = {
        "predictions": _delete_older(PredictionLog, "created_at", cutoff, batch),
        "serving_counts": _delete_older(ServingCount, "minute", cutoff, batch),
    }
    if any(deleted.values()):
        logger.info(
            "deleted %(predictions)d logged predictions and %(serving_counts)d serving counts "
            "older than the retention",
            deleted,
        )
    return deleted
