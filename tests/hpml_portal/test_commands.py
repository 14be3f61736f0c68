from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


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
@pytest.mark.parametrize(
    ("password", "reason"), [("short", "too short"), ("administrator1", "too similar")]
)
def test_ensure_superuser_refuses_a_password_the_validators_refuse(tmp_path, password, reason):
    secret = tmp_path / "pw"
    secret.write_text("good-password-4")
    run("ensure_superuser", "administrator", "--password-file", str(secret))
    secret.write_text(password)

    with pytest.raises(CommandError, match=f"password refused: .*{reason}"):
        run("ensure_superuser", "administrator", "--password-file", str(secret))
    with pytest.raises(CommandError, match="password refused"):
        run("ensure_superuser", "administrators", "--password-file", str(secret))

    assert get_user_model().objects.get().check_password("good-password-4")  # unchanged


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


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("QUEUED", "no worker has taken it yet; is a worker running"),
        ("PENDING", "no worker has taken it yet"),
        ("RUNNING", "a worker is on it and it goes on; --timeout stopped the waiting, not the job"),
    ],
)
def test_a_wait_that_times_out_says_whether_a_worker_took_the_job(status, said):
    from django.core.management.base import OutputWrapper

    from hpml_portal.management.waiting import wait_for_status

    with pytest.raises(CommandError, match=f"still {status} after 0.2s: {said}"):
        wait_for_status(
            lambda: (status, ""),
            terminal={"SUCCEEDED", "FAILED"},
            success="SUCCEEDED",
            stdout=OutputWrapper(StringIO()),
            timeout=0.2,
            interval=0.05,
        )
