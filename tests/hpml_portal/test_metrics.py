"""/metrics: what the platform reports to Prometheus, and who may read it."""

import json

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
