import json

import pytest


@pytest.mark.django_db
def test_healthz_answers_without_credentials(client):
    answer = client.get("/healthz")

    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_database_storage_and_broker(client):
    answer = client.get("/readyz")

    assert answer.status_code == 200, answer.content
    assert answer.json()["checks"] == {"database": "ok", "storage": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_answers_503_and_names_what_is_down(client, settings):
    storages = json.loads(json.dumps(settings.STORAGES))
    storages["default"]["OPTIONS"]["bucket_name"] = "no-such-bucket"
    settings.STORAGES = storages

    answer = client.get("/readyz")

    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable" and body["checks"]["storage"].startswith("error:")
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"] == "ok"


@pytest.mark.django_db
def test_the_openapi_schema_and_docs_need_credentials(client, api_client):
    assert client.get("/api/schema/").status_code in (401, 403)

    schema = api_client.get("/api/schema/")
    docs = api_client.get("/api/docs/")

    assert schema.status_code == 200 and b"/api/v1/models/{name}/predict/" in schema.content
    assert docs.status_code == 200


@pytest.mark.django_db
def test_the_schema_generates_without_warnings():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

    assert "openapi: 3" in out.getvalue()
