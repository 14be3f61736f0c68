"""``GET /metrics``: Prometheus text format, names prefixed ``hpml_``.

Two kinds of values. Most are read from the database (and the broker) when scraped, so every
web process answers the same whatever it served itself: requests to the scoring URLs by model,
version and status (from ``ServingCount``), log rows dropped, versions whose stored file failed
its check, MLflow mirrors that failed, training runs by status, dataset versions by status and
the bytes of the READY ones, how long each queue's oldest job has waited; and, from the
dashboard's shared check (at most HEALTH_SECONDS old), the broker, its queues' depths and the
workers answering a ping. The rest are this process's own (``hpml_portal.instruments``):
request latency by view, predictions by outcome and their latency, model cache hits and loads.

With METRICS_TOKEN set, a scrape must send ``Authorization: Bearer <METRICS_TOKEN>``; without
it, only callers on this machine are answered (not requests a proxy forwarded).
"""

import hmac

from django.conf import settings
from django.db.models import Count, OuterRef, Subquery, Sum
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import instruments, queues
from .health import LOOPBACK
from .instruments import UNKNOWN_MODEL


def _refusal(request) -> JsonResponse | None:
    if settings.METRICS_TOKEN:
        sent = request.META.get("HTTP_AUTHORIZATION", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {settings.METRICS_TOKEN}".encode()):
            return JsonResponse(
                {"detail": "send 'Authorization: Bearer <METRICS_TOKEN>'"}, status=401
            )
        return None
    proxied = "HTTP_X_FORWARDED_FOR" in request.META  # a proxy on this machine passes others on
    if proxied or request.META.get("REMOTE_ADDR") not in LOOPBACK:
        return JsonResponse(
            {"detail": "/metrics answers this machine only; set METRICS_TOKEN to scrape it"},
            status=403,
        )
    return None


@require_GET
def metrics(request):
    refused = _refusal(request)
    if refused is not None:
        return refused
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Platform())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _Platform:
    def collect(self):
        yield from _serving()
        yield _integrity()
        yield _mirrors()
        yield _runs()
        yield from _datasets()
        yield _waiting()
        yield from _broker()
        yield from instruments.process_families()


def _serving():
    from accounts.models import Team
    from inference.models import ServingCount

    slug = Team.objects.filter(pk=OuterRef("team_key")).values("slug")[:1]
    rows = (
        ServingCount.objects.annotate(team=Subquery(slug))
        .values("team", "model_name", "version", "status")
        .annotate(requests=Sum("requests"), dropped=Sum("logs_dropped"))
    )
    labels = ["team", "model", "version", "status"]
    requests = CounterMetricFamily(
        "hpml_predictions", "Requests to the scoring URLs, by the status answered", labels=labels
    )
    dropped = CounterMetricFamily(
        "hpml_prediction_log_dropped", "Sampled requests whose log row was dropped", labels=labels
    )
    totals: dict[tuple, list[int]] = {}
    for row in rows:
        known = row["team"] is not None
        key = (
            row["team"] or "",
            row["model_name"] if known else UNKNOWN_MODEL,
            str(row["version"]),
            str(row["status"]),
        )
        found = totals.setdefault(key, [0, 0])
        found[0] += row["requests"]
        found[1] += row["dropped"]
    for key, (count, lost) in sorted(totals.items()):
        requests.add_metric(list(key), count)
        dropped.add_metric(list(key), lost)
    yield requests
    yield dropped


def _integrity() -> GaugeMetricFamily:
    from models_registry.models import ModelVersion

    failing = GaugeMetricFamily(
        "hpml_model_version_integrity_failed",
        "1 for each version whose stored file failed its sha256 check or could not be loaded",
        labels=["team", "model", "version"],
    )
    versions = ModelVersion.objects.exclude(integrity_error="").values_list(
        "model__team__slug", "model__name", "version"
    )
    for team, model, version in versions:
        failing.add_metric([team, model, str(version)], 1)
    return failing


def _mirrors() -> GaugeMetricFamily:
    from models_registry.models import MirrorState, ModelAlias, ModelVersion

    failed = GaugeMetricFamily(
        "hpml_mlflow_mirrors_failed",
        "Versions and aliases whose MLflow mirror failed (retried with backoff)",
        labels=["kind"],
    )
    failed.add_metric(
        ["version"], ModelVersion.objects.filter(mirror_state=MirrorState.FAILED).count()
    )
    failed.add_metric(["alias"], ModelAlias.objects.filter(mirror_state=MirrorState.FAILED).count())
    return failed


def _runs() -> GaugeMetricFamily:
    from experiments.models import RUN_STATUSES, TrainingRun

    runs = GaugeMetricFamily("hpml_training_runs", "Training runs by status", labels=["status"])
    counted = dict(
        TrainingRun.objects.values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    for status in RUN_STATUSES:
        runs.add_metric([str(status)], counted.get(status, 0))
    return runs


def _datasets():
    from datasets.models import VERSION_STATUSES, DatasetVersion

    versions = GaugeMetricFamily(
        "hpml_dataset_versions", "Dataset versions by status", labels=["status"]
    )
    stored = GaugeMetricFamily(
        "hpml_dataset_ready_bytes", "Bytes of the stored files of READY dataset versions"
    )
    rows = DatasetVersion.objects.values("status").annotate(n=Count("id"), size=Sum("size_bytes"))
    found = {row["status"]: row for row in rows}
    for status in VERSION_STATUSES:
        versions.add_metric([str(status)], found.get(status, {}).get("n", 0))
    stored.add_metric([], found.get("READY", {}).get("size") or 0)
    yield versions
    yield stored


def _waiting() -> GaugeMetricFamily:
    oldest = GaugeMetricFamily(
        "hpml_queue_oldest_waiting_seconds",
        "How long the oldest job waiting for a worker on each queue has waited (0: none waits)",
        labels=["queue"],
    )
    for queue, seconds in queues.oldest_waiting().items():
        oldest.add_metric([queue], seconds)
    return oldest


def _broker():
    """The broker, its queues and the workers, as the dashboard last checked them (shared,
    at most HEALTH_SECONDS old): a broker that is down reads 0, never an error."""
    from .dashboard import health

    try:
        found = health()
    except Exception:
        found = {"broker": "unreachable", "workers": [], "queues": {}}
    up = found["broker"] == "ok"
    yield GaugeMetricFamily("hpml_broker_up", "1 when the broker answers, else 0", value=int(up))
    yield GaugeMetricFamily(
        "hpml_workers_seen",
        "Celery workers that answered a ping (every queue; 0 while the broker is down)",
        value=len(found["workers"]),
    )
    depth = GaugeMetricFamily(
        "hpml_queue_depth", "Messages waiting on the broker, by queue", labels=["queue"]
    )
    for queue, count in sorted(found["queues"].items()):
        depth.add_metric([queue], count)
    yield depth
