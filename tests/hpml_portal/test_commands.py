from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_create_api_token_makes_a_service_user_and_prints_the_token_last():
    lines = run("create_api_token", "robot")

    robot = get_user_model().objects.get(username="robot")
    assert lines[-1] == Token.objects.get(user=robot).key
    assert not robot.has_usable_password()


@pytest.mark.django_db
def test_create_api_token_gives_the_same_token_until_rotated(user):
    first = run("create_api_token", user.username)[-1]

    assert run("create_api_token", user.username)[-1] == first
    assert run("create_api_token", user.username, "--rotate")[-1] != first
    assert Token.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_the_token_authenticates_api_calls(client):
    token = run("create_api_token", "robot")[-1]

    answer = client.get("/api/v1/models/", HTTP_AUTHORIZATION=f"Token {token}")

    assert answer.status_code == 200


@pytest.mark.django_db
def test_create_api_token_refuses_an_inactive_user(user):
    user.is_active = False
    user.save()

    with pytest.raises(CommandError, match="inactive"):
        run("create_api_token", user.username)

    assert not Token.objects.exists()


@pytest.mark.django_db
def test_ensure_superuser_creates_then_updates(tmp_path, client):
    password = tmp_path / "pw"
    password.write_text("first-password-1\n")
    assert run("ensure_superuser", "boss", "--password-file", str(password)) == [
        "created admin boss"
    ]
    password.write_text("second-password-2")
    assert run("ensure_superuser", "boss", "--password-file", str(password)) == [
        "updated admin boss"
    ]

    assert client.login(username="boss", password="second-password-2")
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_ensure_superuser_reads_the_password_from_the_file_the_environment_names(
    tmp_path, monkeypatch, client
):
    secret = tmp_path / "pw"
    secret.write_text("from-the-file-3\n")
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD_FILE", str(secret))

    run("ensure_superuser", "boss")

    assert client.login(username="boss", password="from-the-file-3")


@pytest.mark.django_db
def test_ensure_superuser_needs_a_password(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)

    with pytest.raises(CommandError, match="no password"):
        run("ensure_superuser", "boss")

    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_ensure_superuser_names_a_password_file_it_cannot_read(tmp_path):
    with pytest.raises(CommandError, match="cannot read .*missing"):
        run("ensure_superuser", "boss", "--password-file", str(tmp_path / "missing"))

    assert not get_user_model().objects.exists()
