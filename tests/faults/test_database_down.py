"""PostgreSQL going away and coming back under a web process and a command. The shared server
is never stopped: this module's processes reach it through a proxy that is cut (connections
dropped, new ones refused, as in a restart) and restored."""

import pytest
import requests
from django.db import connection

from tests.faults.conftest import TcpProxy, Web, manage, one_line_error, running, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def database(worker_env):
    """The proxy, and an environment whose DATABASE_URL goes through it."""
    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    if host.startswith("/"):
        pytest.skip("the test database is reached through a socket file, not TCP")
    proxy = TcpProxy(int(db["PORT"] or 5432), host=host)
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@127.0.0.1:{proxy.port}/{db['NAME']}"
    yield proxy, {**worker_env, "DATABASE_URL": url}
    proxy.cut()


@pytest.fixture(scope="module")
def web(database, fault_dir):
    with running(Web(database[1], fault_dir / "web.log", workers=2)) as web:
        yield web


def readiness(web) -> requests.Response:
    return requests.get(web.url("/readyz"), timeout=30)


def test_readyz_answers_503_while_postgresql_is_away_and_200_again_by_itself(database, web):
    proxy, _ = database
    wait_for(lambda: readiness(web).status_code == 200, timeout=30, message="/readyz 200")

    proxy.cut()
    try:
        answers = [readiness(web) for _ in range(4)]  # both workers, their connections dropped
    finally:
        proxy.restore()

    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["status"] == "unavailable"
        assert answer.json()["checks"]["database"].startswith("error")
    wait_for(lambda: readiness(web).status_code == 200, timeout=30, message="/readyz 200")
    assert all(readiness(web).status_code == 200 for _ in range(4))


def test_a_command_with_postgresql_away_says_why_in_one_line(database):
    proxy, env = database
    proxy.cut()
    try:
        result = manage("ingest_dataset", "digits", "--builtin", "digits", env=env)
    finally:
        proxy.restore()

    assert "the database cannot be reached" in one_line_error(result)


def test_an_api_request_with_postgresql_away_answers_503_json(database, web, token):
    proxy, _ = database
    proxy.cut()
    try:
        answer = requests.get(
            web.url("/api/v1/datasets/"), headers={"Authorization": f"Token {token}"}, timeout=30
        )
    finally:
        proxy.restore()

    assert answer.status_code == 503, answer.status_code
    assert "database" in answer.json()["detail"]
