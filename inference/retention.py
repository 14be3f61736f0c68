"""How long the prediction log is kept, and the serving counts kept per minute:
PREDICTION_LOG_RETENTION_DAYS.

Both grow with traffic (a logged request is a row; the counts a row per minute, model version
and status answered). Beat runs ``prediction_log_prune`` every hour:

- logged predictions older than the retention are deleted, their feedback with them;
- serving counts older than the retention are folded into one row per day (at its midnight,
  UTC), totals unchanged: ``/metrics`` reports all-time counters from them, which must never
  go down, and the stats read only the last day.

Work is done a batch at a time, each in its own transaction, so that no statement holds its
locks for long, and a run stops after ``RUN_SECONDS``: the next hour's run goes on from there.
Runs do not overlap (a lock in the cache).
"""

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from .logbook import add_counts
from .models import PredictionLog, ServingCount

logger = logging.getLogger(__name__)

BATCH = 5_000
RUN_SECONDS = 300.0
LOCK_KEY = "hpml:prediction-log-prune"


def prediction_log_prune(*, now=None, batch: int = BATCH, seconds: float = RUN_SECONDS):
    """Delete logged predictions older than the retention and fold older serving counts into
    days. Returns ``{"predictions": deleted, "serving_counts": folded}``; nothing is done when
    the retention is 0 (keep all) or another run holds the lock."""
    done = {"predictions": 0, "serving_counts": 0}
    days = settings.PREDICTION_LOG_RETENTION_DAYS
    if days == 0:
        return done
    token = uuid.uuid4().hex
    try:
        if not cache.add(LOCK_KEY, token, int(seconds) + 60):
            logger.info("the prediction log is being pruned by another run")
            return done
    except Exception:  # the cache is down: run unlocked; the batches are safe side by side
        logger.warning("prediction log pruned without a lock: the cache cannot be reached")
        token = None
    try:
        cutoff = (now or timezone.now()) - timedelta(days=days)
        deadline = time.monotonic() + seconds
        done["predictions"] = _delete_predictions(cutoff, batch, deadline)
        done["serving_counts"] = _fold_counts(cutoff, batch, deadline)
    finally:
        if token is not None:
            try:
                if cache.get(LOCK_KEY) == token:
                    cache.delete(LOCK_KEY)
            except Exception:
                pass  # it expires by itself
    if any(done.values()):
        logger.info(
            "deleted %(predictions)d logged predictions and folded %(serving_counts)d serving "
            "counts into days: older than the retention",
            done,
        )
    return done


def _delete_predictions(cutoff, batch: int, deadline: float) -> int:
    old = PredictionLog.objects.filter(created_at__lt=cutoff).order_by()
    deleted = 0
    while time.monotonic() < deadline:
        ids = list(old.values_list("pk", flat=True)[:batch])
        if not ids:
            break
        _, by_model = PredictionLog.objects.filter(pk__in=ids).delete()
        deleted += by_model.get(PredictionLog._meta.label, 0)
    return deleted


def _fold_counts(cutoff, batch: int, deadline: float) -> int:
    """Per-minute rows older than ``cutoff`` become part of their day's midnight row."""
    minutes = (
        ServingCount.objects.filter(minute__lt=cutoff)
        .exclude(minute__hour=0, minute__minute=0)  # a day's row, or that day's first minute
        .order_by()
    )
    folded = 0
    while time.monotonic() < deadline:
        with transaction.atomic():
            # Locked, and summed only as they are now: rows another run folded first are gone.
            ids = list(minutes.select_for_update().values_list("pk", flat=True)[:batch])
            if not ids:
                break
            taken = ServingCount.objects.filter(pk__in=ids)
            days = (
                taken.annotate(day=TruncDay("minute"))
                .values("day", "team_key", "model_name", "version", "status")
                .annotate(
                    requests=Sum("requests"),
                    instances=Sum("instances"),
                    logs_dropped=Sum("logs_dropped"),
                )
            )
            totals = {
                (row["day"], row["team_key"], row["model_name"], row["version"], row["status"]): (
                    row["requests"],
                    row["instances"],
                    row["logs_dropped"],
                )
                for row in days
            }
            taken.delete()
            add_counts(totals)
        folded += len(ids)
    return folded
