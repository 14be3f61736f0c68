"""Password sign-in is limited per user name; tokens, JWTs and other names are not touched."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import AuditEvent
from accounts.services import api_token_create
from accounts.sign_in import SignInLimit
from tests.factories import member

pytestmark = pytest.mark.django_db

PASSWORD = "pw-test-123"  # what the factories give every user
LOCKED = b"Too many failed sign-ins for this account"


@pytest.fixture
def limit(settings):
    settings.SIGN_IN_FAILURE_LIMIT = 3
    settings.SIGN_IN_LOCKOUT_SECONDS = 900
    return 3


@pytest.fixture
def name() -> str:
    """A user name no other test (nor an earlier run, in a shared cache) has counted."""
    return f"person-{uuid.uuid4().hex[:10]}"


def sign_in(client, username: str, password: str, url: str = "/admin/login/?next=/admin/"):
    return client.post(url, {"username": username, "password": password})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, username: str, times: int) -> None:
    for _ in range(times):
        answer = sign_in(client, username, "wrong")
        assert answer.status_code == 200 and not signed_in(client)


def test_a_name_with_too_many_failures_is_refused_with_the_right_password(
    client, team, limit, name
):
    member(team, "viewer", username=name)
    for _ in range(limit - 1):
        assert LOCKED not in sign_in(client, name, "wrong").content
    assert LOCKED in sign_in(client, name, "wrong").content  # the limit-th failure says so
    audited = AuditEvent.objects.filter(action="login.failed", target=name).count()

    answer = sign_in(client, name, PASSWORD)

    assert answer.status_code == 200 and LOCKED in answer.content
    assert b"Try again in 15 minutes." in answer.content
    assert not signed_in(client) and client.get("/admin/").status_code == 302
    # The refused attempt is in the audit log like any failure.
    assert AuditEvent.objects.filter(action="login.failed", target=name).count() == audited + 1


def test_the_browsable_api_sign_in_is_limited_too(client, team, limit, name):
    member(team, "viewer", username=name)
    fail(client, name, limit)

    answer = sign_in(client, name, PASSWORD, url="/api-auth/login/")

    assert answer.status_code == 200 and not signed_in(client)
    assert client.get("/api/v1/runs/").status_code in (401, 403)


def test_other_names_tokens_and_the_locked_names_sessions_go_on(client, team, limit, name):
    locked = member(team, "scientist", username=name)
    other = member(team, "viewer", username=f"{name}-other")
    token = api_token_create(user=locked, name="ci")[1]
    fail(client, name, limit)

    assert sign_in(client, other.username, PASSWORD).status_code == 302 and signed_in(client)
    answer = client.get("/api/v1/runs/", HTTP_AUTHORIZATION=f"Token {token}")
    assert answer.status_code == 200  # a token is not a password: never locked out


def test_names_are_counted_case_folded_and_unknown_names_alike(client, team, limit, name):
    member(team, "viewer", username=name)
    fail(client, name.upper(), limit)
    nobody = f"nobody-{name}"
    fail(client, nobody, limit)

    assert LOCKED in sign_in(client, name, PASSWORD).content
    # A name that matches no account answers the same: the lock tells no one which names exist.
    assert LOCKED in sign_in(client, nobody, PASSWORD).content


def test_attempts_sent_side_by_side_get_no_more_tries_than_the_limit(settings, name):
    settings.SIGN_IN_FAILURE_LIMIT, settings.SIGN_IN_LOCKOUT_SECONDS = 5, 900
    gate = SignInLimit()

    def one_attempt(_) -> bool:
        """Whether the password would be checked."""
        try:
            gate.authenticate(None, username=name, password="guess")
        except PermissionDenied:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        checked = list(pool.map(one_attempt, range(24)))

    assert checked.count(True) == 5


def test_the_sessions_of_people_signed_in_keep_working(client, team, limit, name):
    """Sessions record the backend that signed them in: Django's own, whatever comes first."""
    member(team, "viewer", username=name)
    assert sign_in(client, name, PASSWORD).status_code == 302

    assert client.session["_auth_user_backend"] == "django.contrib.auth.backends.ModelBackend"
    assert client.get("/admin/").status_code == 200


def test_a_success_before_the_limit_clears_the_count(client, team, limit, name):
    member(team, "viewer", username=name)
    fail(client, name, limit - 1)
    assert sign_in(client, name, PASSWORD).status_code == 302
    client.logout()
    fail(client, name, limit - 1)

    assert sign_in(client, name, PASSWORD).status_code == 302 and signed_in(client)


def test_the_lock_ends_with_its_window(client, team, settings, name):
    settings.SIGN_IN_FAILURE_LIMIT, settings.SIGN_IN_LOCKOUT_SECONDS = 2, 1
    member(team, "viewer", username=name)
    fail(client, name, 2)
    assert LOCKED in sign_in(client, name, PASSWORD).content
    assert b"Try again in 1 minute." in sign_in(client, name, PASSWORD).content

    time.sleep(2.2)

    assert sign_in(client, name, PASSWORD).status_code == 302 and signed_in(client)


def test_with_no_limit_set_failures_lock_nothing(client, team, settings, name):
    settings.SIGN_IN_FAILURE_LIMIT = 0
    member(team, "viewer", username=name)
    fail(client, name, 12)

    assert sign_in(client, name, PASSWORD).status_code == 302


def test_with_the_cache_down_sign_in_works_unlimited(client, team, limit, settings, name, caplog):
    member(team, "viewer", username=name)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    fail(client, name, limit + 1)

    assert sign_in(client, name, PASSWORD).status_code == 302 and signed_in(client)
    assert "the cache cannot be reached" in caplog.text


@pytest.mark.parametrize(
    "form",
    [
        {"username": "", "password": "x"},
        {"username": "x" * 5000, "password": "x"},
        {"username": "\u0000\ud7ff\U0001f600", "password": "x"},
        {"password": "x"},
        {"username": "someone"},
    ],
)
def test_odd_sign_in_forms_are_answered_on_the_form(client, limit, form):
    for _ in range(limit + 1):
        answer = client.post("/admin/login/", form)
        assert answer.status_code == 200 and not signed_in(client)
