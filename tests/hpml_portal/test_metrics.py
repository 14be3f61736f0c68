"""/metrics: what the platform reports to Prometheus, and who may read it."""

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from models_registry.services import model_version_record_integrity

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/{}/predict/"


def scrape(client, **extra) -> dict[str, list]:
    answer = client.get("/metrics", **extra)
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/plain")
    families = text_string_to_metric_families(answer.content.decode())
    return {family.name: family.samples for family in families}


def values(samples, name: str) -> dict[tuple, float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for sample in samples
        if sample.name == name
    }


def test_requests_integrity_failures_and_runs_are_reported(client, api_client, production, digits):
    body = json.dumps({"instances": digits[0][:2].tolist()})
    for _ in range(2):
        api_client.post(URL.format("digits"), body, content_type="application/json")
    api_client.post(URL.format("attacker-chosen-name"), body, content_type="application/json")
    model_version_record_integrity(version_id=production.pk, error="sha256 does not match")

    found = scrape(client)

    predictions = values(found["hpml_predictions"], "hpml_predictions_total")
    labels = {"team": "default", "model": "digits", "version": "1", "status": "200"}
    assert predictions[tuple(sorted(labels.items()))] == 2
    # A name that found no model is the caller's word: never a label of its own.
    unknown = {"team": "", "model": "(none)", "version": "0", "status": "404"}
    assert predictions[tuple(sorted(unknown.items()))] == 1
    assert "attacker-chosen-name" not in str(found)
    failing = values(
        found["hpml_model_version_integrity_failed"], "hpml_model_version_integrity_failed"
    )
    assert failing == {(("model", "digits"), ("team", "default"), ("version", "1")): 1}
    runs = values(found["hpml_training_runs"], "hpml_training_runs")
    assert runs[(("status", "QUEUED"),)] == 0 and len(runs) == 5


def test_other_addresses_are_refused_without_the_token(client, settings):
    refused = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    proxied = client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3")

    assert refused.status_code == 403 and "METRICS_TOKEN" in refused.json()["detail"]
    assert proxied.status_code == 403


def test_with_a_token_set_a_scrape_must_send_it(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape"

    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    right = scrape(client, REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret-scrape")

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "hpml_training_runs" in right


def test_only_get_is_answered(client):
    assert client.post("/metrics").status_code == 405


def total(found: dict, family: str, sample: str, **labels) -> float:
    """The sample's value (0 when absent): labels not named may take any value, summed."""
    return sum(
        s.value
        for s in found.get(family, [])
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


@pytest.fixture
def fresh_health():
    """The broker and workers as checked now, not as another test's check left them."""
    from django.core.cache import cache

    from hpml_portal.dashboard import HEALTH_KEY

    cache.delete(HEALTH_KEY)
    yield
    cache.delete(HEALTH_KEY)


def test_requests_are_timed_by_view_never_by_their_path(client):
    family, count = "hpml_http_request_duration_seconds", "hpml_http_request_duration_seconds_count"
    before = scrape(client)
    client.get("/api/v1/runs/987654/")
    client.get("/no-such-page-31337")
    client.generic("BREW", "/healthz")
    answer = client.get("/metrics")
    after = scrape(client)

    detail = {"view": "trainingrun-detail", "method": "GET", "status": "4xx"}
    unmatched = {"view": "(unmatched)", "method": "GET", "status": "4xx"}
    odd = {"view": "healthz", "method": "other", "status": "4xx"}  # 405 for an unknown method
    for labels in (detail, unmatched, odd):
        assert total(after, family, count, **labels) - total(before, family, count, **labels) == 1
    # A path's digits never become a label (a sample's value may hold any digits).
    labels_seen = {
        value
        for family in text_string_to_metric_families(answer.content.decode())
        for sample in family.samples
        for value in sample.labels.values()
    }
    assert not [value for value in labels_seen if "987654" in value or "31337" in value]
    assert total(after, family, "hpml_http_request_duration_seconds_bucket", le="+Inf") > 0


def test_predictions_are_counted_by_outcome_with_their_latency(
    client, api_client, production, digits
):
    rows = json.dumps({"instances": digits[0][:2].tolist()})
    short = json.dumps({"instances": [[0.0, 1.0]]})
    before = scrape(client)
    for body, name in ((rows, "digits"), (rows, "digits"), (short, "digits"), (rows, "nope")):
        api_client.post(URL.format(name), body, content_type="application/json")
    after = scrape(client)

    def grew(family, sample, **labels):
        return total(after, family, sample, **labels) - total(before, family, sample, **labels)

    served = {"team": "default", "model": "digits", "version": "1"}
    counted = "hpml_prediction_requests_total"
    assert grew("hpml_prediction_requests", counted, outcome="ok", **served) == 2
    assert grew("hpml_prediction_requests", counted, outcome="rejected", **served) == 1
    unknown = {"team": "", "model": "(none)", "version": "0", "outcome": "not_found"}
    assert grew("hpml_prediction_requests", counted, **unknown) == 1
    timed = "hpml_prediction_duration_seconds_count"
    assert grew("hpml_prediction_duration_seconds", timed, team="default", model="digits") == 2
    lookups = grew("hpml_model_cache_lookups", "hpml_model_cache_lookups_total")
    assert lookups == 3  # the two answered and the one refused after its model was found
    assert "hpml_model_loads" in after


def test_queues_broker_workers_and_data_are_reported(client, fresh_health, ready_version):
    found = scrape(client)

    assert values(found["hpml_broker_up"], "hpml_broker_up") == {(): 1}
    assert values(found["hpml_workers_seen"], "hpml_workers_seen") == {(): 0}
    depth = values(found["hpml_queue_depth"], "hpml_queue_depth")
    assert set(depth) == {(("queue", "default"),), (("queue", "training"),)}
    waiting = values(
        found["hpml_queue_oldest_waiting_seconds"], "hpml_queue_oldest_waiting_seconds"
    )
    assert waiting == {(("queue", "default"),): 0, (("queue", "training"),): 0}
    versions = values(found["hpml_dataset_versions"], "hpml_dataset_versions")
    assert versions[(("status", "READY"),)] == 1 and versions[(("status", "PENDING"),)] == 0
    stored = values(found["hpml_dataset_ready_bytes"], "hpml_dataset_ready_bytes")
    assert stored == {(): ready_version.size_bytes} and ready_version.size_bytes > 0


@pytest.fixture
def broker_down():
    """The broker the dashboard's check reads from is a port where nothing listens."""
    from hpml_portal.celery import app

    def reset_pools():
        app.amqp._producer_pool = None
        app._pool = None

    app.conf.broker_read_url = "redis://127.0.0.1:1/0"
    reset_pools()
    yield
    app.conf.broker_read_url = None
    reset_pools()


def test_a_broker_that_is_down_reads_0_not_an_error(client, fresh_health, broker_down):
    found = scrape(client)

    assert values(found["hpml_broker_up"], "hpml_broker_up") == {(): 0}
    assert values(found["hpml_workers_seen"], "hpml_workers_seen") == {(): 0}
    assert found["hpml_queue_depth"] == []
    assert "hpml_queue_oldest_waiting_seconds" in found  # read from the database


GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "hpml-platform.json"
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def exposed_names(client) -> set[str]:
    """Every series name /metrics can produce, whether or not it has samples yet."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    names = set()
    for family in text_string_to_metric_families(answer.content.decode()):
        names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return names


def metric_names(expr: str) -> set[str]:
    """The series a PromQL expression selects: identifiers left once strings, label matchers,
    ranges and by/without/on lists are taken out, that are not functions or keywords."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for found in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        calls = expr[found.end() :].lstrip().startswith("(")
        if not calls and found.group() not in KEYWORDS:
            names.add(found.group())
    return names


def test_the_grafana_dashboard_asks_only_for_metrics_that_are_exposed(client):
    dashboard = json.loads(GRAFANA.read_text())
    exposed = exposed_names(client)
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]

    assert len(expressions) >= 12
    for expr in expressions:
        asked = metric_names(expr)
        assert asked and asked <= exposed, f"{expr}: {asked - exposed} not in /metrics"
    assert metric_names('sum by (le) (rate(a_b{x="y"}[5m])) / on (q) c') == {"a_b", "c"}
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in ("latency", "predictions", "training", "queue", "workers", "cache", "ingest"):
        assert topic in titles
