import json

import pytest
from django.core.cache import cache

from hpml_portal.dashboard import HEALTH_KEY
from tests.helpers import broker_unreachable


@pytest.fixture(autouse=True)
def fresh_health():
    """Workers and queues as checked now, not as another test's check left them (shared)."""
    cache.delete(HEALTH_KEY)
    yield
    cache.delete(HEALTH_KEY)


@pytest.mark.django_db
def test_healthz_answers_without_credentials(client):
    answer = client.get("/healthz")

    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_database_storage_and_broker(client):
    answer = client.get("/readyz")

    assert answer.status_code == 200, answer.content
    assert answer.json()["checks"] == {
        "database": "ok",
        "storage": "ok",
        "broker": "ok",
        "models": "not preloaded",  # this process was not started as a web process
        "workers": "none seen",  # told, but a web process is ready without workers
        "queues": "ok",
    }


@pytest.fixture
def storage_down(settings):
    storages = json.loads(json.dumps(settings.STORAGES))
    storages["default"]["OPTIONS"]["bucket_name"] = "no-such-bucket"
    settings.STORAGES = storages


@pytest.mark.django_db
def test_readyz_answers_503_and_names_what_is_down_with_the_reason_on_loopback(
    client, storage_down
):
    answer = client.get("/readyz", REMOTE_ADDR="127.0.0.1")

    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable" and body["checks"]["storage"].startswith("error:")
    assert "HeadBucket" in body["checks"]["storage"]
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"] == "ok"


@pytest.mark.django_db
def test_readyz_tells_an_anonymous_remote_caller_only_which_part_fails(client, storage_down):
    answer = client.get("/readyz", REMOTE_ADDR="203.0.113.9")

    assert answer.status_code == 503
    assert answer.json() == {
        "status": "unavailable",
        "checks": {
            "database": "ok",
            "storage": "error",
            "broker": "ok",
            "models": "not preloaded",
            "workers": "none seen",
            "queues": "ok",
        },
    }
    assert b"HeadBucket" not in answer.content and b"127.0.0.1" not in answer.content


@pytest.mark.django_db
def test_readyz_with_the_broker_down_does_not_ask_for_workers(client):
    with broker_unreachable():
        answer = client.get("/readyz", REMOTE_ADDR="203.0.113.9")

    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["broker"] == "error" and checks["workers"] == "unknown"
    assert checks["queues"] == "ok"  # from the database, which answers


@pytest.mark.django_db
def test_readyz_tells_staff_why_a_part_fails(client, admin_user, storage_down):
    client.force_login(admin_user)

    answer = client.get("/readyz", REMOTE_ADDR="203.0.113.9")

    assert answer.status_code == 503 and "HeadBucket" in answer.json()["checks"]["storage"]


@pytest.mark.django_db
def test_readyz_hides_the_reason_from_a_signed_in_member(client, user, storage_down):
    client.force_login(user)

    answer = client.get("/readyz", REMOTE_ADDR="203.0.113.9")

    assert answer.json()["checks"]["storage"] == "error"


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
