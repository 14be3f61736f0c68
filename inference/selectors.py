"""Reads of the prediction log, scoped to what the caller's teams hold."""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Aggregate, Count, FloatField, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from accounts import access
from accounts.access import Capability
from accounts.models import Team

from .models import PredictionFeedback, PredictionLog, ServingCount


def prediction_log_list(
    *, user, capability: Capability | None = Capability.READ
) -> QuerySet[PredictionLog]:
    logs = PredictionLog.objects.select_related("model_version__model__team", "user")
    return access.scope(logs, user, PredictionLog.TEAM_PATH, capability)


def serving_count_list(
    *, user, capability: Capability | None = Capability.READ
) -> QuerySet[ServingCount]:
    """Request counts of the caller's teams' models, with the team's slug; the rows of requests
    that found no model (team 0) only for the operator and staff superusers."""
    slug = Team.objects.filter(pk=OuterRef("team_key")).values("slug")[:1]
    counts = ServingCount.objects.annotate(team_slug=Subquery(slug))
    return access.scope(counts, user, ServingCount.TEAM_PATH, capability)


def feedback_accuracy(version_ids, *, since) -> dict[int, float]:
    """{version id: share of labels the version got right}, over the predictions given feedback
    since ``since``; versions without feedback are left out."""
    rows = (
        PredictionFeedback.objects.filter(
            prediction__model_version_id__in=version_ids, created_at__gte=since
        )
        .values("prediction__model_version_id")
        .annotate(correct=Sum("correct"), total=Sum("total"))
    )
    return {
        row["prediction__model_version_id"]: round(row["correct"] / row["total"], 4)
        for row in rows
        if row["total"]
    }


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile of the values of a column."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=fraction, **extra)


PERCENTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
WINDOWS = {"last_hour": timedelta(hours=1), "last_day": timedelta(days=1)}


def model_version_stats(model_version) -> dict:
    """How a version has served over the last hour and day: every request answered with it
    (``ServingCount``, whatever the sampling), by status, and the instances scored; latency
    percentiles from the prediction log (a PREDICTION_LOG_SAMPLE_RATE share of requests); the
    accuracy of the predictions that got feedback."""
    now = timezone.now()
    return {
        "model": model_version.model.name,
        "version": model_version.version,
        "sample_rate": (
            settings.PREDICTION_LOG_SAMPLE_RATE
            if model_version.model.log_sample_rate is None
            else model_version.model.log_sample_rate
        ),
        **{name: _window(model_version, now - span) for name, span in WINDOWS.items()},
    }


def _window(model_version, since) -> dict:
    logs = PredictionLog.objects.filter(model_version=model_version, created_at__gte=since)
    judged = PredictionFeedback.objects.filter(
        prediction__model_version=model_version, prediction__created_at__gte=since
    ).aggregate(predictions=Count("id"), labels=Sum("total", default=0), correct=Sum("correct"))
    labels = judged["labels"]
    return {
        **_counts(model_version, since),
        "logged": logs.count(),
        "latency_ms": _latencies(
            logs.filter(outcome=PredictionLog.Outcome.OK, latency_ms__isnull=False)
        ),
        "feedback": {
            "predictions": judged["predictions"],
            "labels": labels,
            "accuracy": round(judged["correct"] / labels, 6) if labels else None,
        },
    }


def _counts(model_version, since) -> dict:
    """Requests, by status, from the minute rows that began after ``since`` (to the minute)."""
    rows = (
        ServingCount.objects.filter(
            team_key=model_version.model.team_id,
            model_name=model_version.model.name,
            version=model_version.version,
            minute__gte=since.replace(second=0, microsecond=0),
        )
        .values("status")
        .annotate(requests=Sum("requests"), instances=Sum("instances"), dropped=Sum("logs_dropped"))
    )
    by_status = {str(row["status"]): row["requests"] for row in rows}
    return {
        "requests": sum(by_status.values()),
        "rejected": sum(n for status, n in by_status.items() if status != "200"),
        "by_status": dict(sorted(by_status.items())),
        "instances": sum(row["instances"] for row in rows),
        "logs_dropped": sum(row["dropped"] for row in rows),
    }


def _latencies(logs) -> dict:
    if connection.vendor == "postgresql":
        found = logs.aggregate(
            **{name: Percentile("latency_ms", fraction) for name, fraction in PERCENTILES.items()}
        )
    else:  # the embedded database has no percentile function: computed here
        values = sorted(logs.values_list("latency_ms", flat=True))
        found = {name: _percentile(values, fraction) for name, fraction in PERCENTILES.items()}
    return {name: round(value, 3) if value is not None else None for name, value in found.items()}


def _percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks, as PERCENTILE_CONT computes it."""
    if not values:
        return None
    rank = fraction * (len(values) - 1)
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)
