"""What this process measures for ``/metrics``, kept in its memory.

Request latency by view, predictions by outcome with their latency, and the model cache's
hits and loads: each web process counts what it served itself, from its start. A scrape of
``/metrics`` reaches one process (one gunicorn worker), so these are that process's numbers;
Prometheus sums them over the processes it scrapes. The totals read from the database
(``hpml_portal.metrics``) are the view across every process.
"""

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import Metric

UNKNOWN_MODEL = "(none)"  # requests that found no model: their names are the caller's words
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# No ``*_created`` series: they would double a scrape's lines, and Prometheus reads resets from
# the counters themselves (the database-derived ones have none either).
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_SECONDS = Histogram(
    "hpml_http_request_duration_seconds",
    "Time to answer a request (until the response is ready), by view, method and status class",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
# Labelled with the team's key while counting (free on the request path); a scrape names the
# team by its slug instead (process_families).
PREDICTIONS = Counter(
    "hpml_prediction_requests",
    "Requests to the scoring URLs answered by this process, by outcome",
    ["team_key", "model", "version", "outcome"],
    registry=REGISTRY,
)
PREDICTION_SECONDS = Histogram(
    "hpml_prediction_duration_seconds",
    "Time to answer a successful prediction in this process (resolve, load, validate, run, log)",
    ["team_key", "model"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30),
    registry=REGISTRY,
)
MODEL_CACHE = Counter(
    "hpml_model_cache_lookups",
    "Models asked of this process's cache: found loaded (hit) or loaded for the asking (miss)",
    ["result"],
    registry=REGISTRY,
)
MODEL_LOADS = Counter(
    "hpml_model_loads",
    "Model files this process loaded, checked and warmed up, or failed to",
    ["outcome"],
    registry=REGISTRY,
)

_OUTCOMES = {200: "ok", 400: "rejected", 401: "denied", 403: "denied", 404: "not_found"}
_OUTCOMES |= {409: "conflict", 413: "rejected", 429: "throttled"}


def outcome(status: int) -> str:
    if status in _OUTCOMES:
        return _OUTCOMES[status]
    return "error" if status >= 500 else "rejected"


def prediction_answered(served, status: int) -> None:
    """Count one scoring request (an ``inference.logbook.Served``) answered with ``status``;
    a successful one also adds its latency, from when the view took it."""
    known = served.team_key != 0
    model = served.model_name[:100] if known else UNKNOWN_MODEL
    PREDICTIONS.labels(str(served.team_key), model, str(served.version), outcome(status)).inc()
    if status == 200:
        elapsed = time.perf_counter() - served.started
        PREDICTION_SECONDS.labels(str(served.team_key), model).observe(elapsed)


Loaded = TypeVar("Loaded")


def model_cache_get(
    get: Callable[[str, Callable[[], Loaded]], Loaded], key: str, load: Callable[[], Loaded]
) -> Loaded:
    """``get(key, load)`` of a model cache, counting the hit or miss and the load's outcome."""
    missed = False

    def counted_load() -> Loaded:
        nonlocal missed
        missed = True
        try:
            loaded = load()
        except BaseException:
            MODEL_LOADS.labels("failed").inc()
            raise
        MODEL_LOADS.labels("ok").inc()
        return loaded

    try:
        return get(key, counted_load)
    finally:
        MODEL_CACHE.labels("miss" if missed else "hit").inc()


class RequestMetrics:
    """Times every request by the view that answered it: the URL pattern's name (the path's
    values never become labels), or ``(unmatched)`` when no pattern matched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match.route) if match is not None else "(unmatched)"
        method = request.method if request.method in METHODS else "other"
        status = f"{response.status_code // 100}xx"
        REQUEST_SECONDS.labels(view, method, status).observe(time.perf_counter() - started)
        return response


def process_families() -> Iterator[Metric]:
    """This process's metrics, the teams named by slug (one query, at scrape time)."""
    families = list(REGISTRY.collect())
    keys = {s.labels["team_key"] for f in families for s in f.samples if "team_key" in s.labels}
    slugs = _team_slugs(keys)
    for family in families:
        if not any("team_key" in sample.labels for sample in family.samples):
            yield family
            continue
        # Teams deleted since share team="": their series are added up, since a scrape that
        # holds one series twice is refused whole.
        merged: dict[tuple, float] = {}
        for sample in family.samples:
            labels = dict(sample.labels)
            team = slugs.get(labels.pop("team_key"), "")
            key = (sample.name, tuple({"team": team, **labels}.items()))
            merged[key] = merged.get(key, 0.0) + sample.value
        named = Metric(family.name, family.documentation, family.type, family.unit)
        for (name, labels), value in merged.items():
            named.add_sample(name, dict(labels), value)
        yield named


def _team_slugs(keys: set[str]) -> dict[str, str]:
    from accounts.models import Team

    wanted = [int(key) for key in keys if key != "0"]
    if not wanted:
        return {}
    return {
        str(pk): slug for pk, slug in Team.objects.filter(pk__in=wanted).values_list("pk", "slug")
    }
