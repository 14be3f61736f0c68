"""Settings come from the environment; with none set, everything is embedded under var/."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "db": db["ENGINE"] + " " + str(db["NAME"]),
    "storage": settings.STORAGES["default"]["BACKEND"],
    "media": str(settings.MEDIA_ROOT),
    "broker": settings.CELERY_BROKER_URL,
    "broker_folder": settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", ""),
    "mlflow": settings.MLFLOW_TRACKING_URI,
    "mlflow_artifacts": settings.MLFLOW_ARTIFACT_ROOT,
    "telemetry_off": __import__("os").environ.get("MLFLOW_DISABLE_TELEMETRY"),
    "cache": settings.CACHES["default"]["BACKEND"],
    "debug": settings.DEBUG,
}))
"""


def settings_with(env: dict, tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    clean.update(
        DJANGO_SETTINGS_MODULE="hpml_portal.settings",
        HPML_ENV_FILE=str(tmp_path / "no.env"),
        HPML_VAR_DIR=str(tmp_path / "var"),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + SHOW],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_with_no_environment_everything_is_embedded_under_var(tmp_path):
    result = settings_with({"SECRET_KEY": "x"}, tmp_path)

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    var = tmp_path / "var"
    assert shown["db"] == f"django.db.backends.sqlite3 {var / 'db.sqlite3'}"
    assert shown["storage"] == "django.core.files.storage.FileSystemStorage"
    assert shown["media"] == str(var / "media")
    assert shown["broker"].startswith("filesystem://")
    assert shown["broker_folder"] == str(var / "broker" / "queue")
    assert shown["mlflow"] == f"sqlite:///{var / 'mlflow.db'}"
    assert shown["mlflow_artifacts"] == (var / "mlartifacts").as_uri()
    assert shown["telemetry_off"] == "true"
    assert shown["cache"].endswith("LocMemCache")
    assert shown["debug"] is False


def test_the_environment_switches_to_real_services(tmp_path):
    result = settings_with(
        {
            "SECRET_KEY": "x",
            "DATABASE_URL": "postgres://u:p@db:5432/hpml",
            "CELERY_BROKER_URL": "redis://redis:6379/0",
            "AWS_STORAGE_BUCKET_NAME": "bucket",
            "AWS_S3_ENDPOINT_URL": "http://minio:9000",
            "MLFLOW_TRACKING_URI": "http://mlflow:5001",
        },
        tmp_path,
    )

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["db"] == "django.db.backends.postgresql hpml"
    assert shown["storage"] == "storages.backends.s3.S3Storage"
    assert shown["broker"] == "redis://redis:6379/0"
    assert shown["mlflow"] == "http://mlflow:5001"
    assert shown["mlflow_artifacts"] == ""  # the tracking server decides


def test_mlflow_artifacts_of_a_database_store_go_to_the_bucket_under_a_prefix(tmp_path):
    result = settings_with(
        {
            "SECRET_KEY": "x",
            "AWS_STORAGE_BUCKET_NAME": "bucket",
            "AWS_LOCATION": "hpml/",
            "MLFLOW_TRACKING_URI": "postgresql://u:p@db/mlflow",
            "CACHE_URL": "redis://redis:6379/1",
        },
        tmp_path,
    )

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["mlflow_artifacts"] == "s3://bucket/hpml/mlflow-artifacts"
    assert shown["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_mlflow_telemetry_stays_off_unless_turned_on(tmp_path):
    result = settings_with({"SECRET_KEY": "x", "MLFLOW_DISABLE_TELEMETRY": "false"}, tmp_path)

    assert json.loads(result.stdout)["telemetry_off"] == "false"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JWT_PUBLIC_KEY": "not a key", "JWT_ISSUER": "i", "JWT_AUDIENCE": "a"}, "JWT"),
        (
            {
                "JWT_JWKS_URL": "https://id/jwks",
                "JWT_ISSUER": "i",
                "JWT_AUDIENCE": "a",
                "JWT_ALGORITHMS": "HS256",
            },
            "HS256",
        ),
        ({"JWT_JWKS_URL": "https://id/jwks", "JWT_AUDIENCE": "a"}, "JWT_ISSUER"),
        ({"JWT_JWKS_URL": "https://id/jwks", "JWT_ISSUER": "i"}, "JWT_AUDIENCE"),
        ({"CACHE_URL": "memcached://x"}, "CACHE_URL"),
        ({"THROTTLE_SUBMIT_RATE": "fast"}, "THROTTLE_SUBMIT_RATE"),
        ({"SIGN_IN_FAILURE_LIMIT": "-1"}, "SIGN_IN_FAILURE_LIMIT"),
        ({"PREDICTION_LOG_RETENTION_DAYS": "1"}, "PREDICTION_LOG_RETENTION_DAYS"),
        ({"PREDICTION_LOG_RETENTION_DAYS": "-3"}, "PREDICTION_LOG_RETENTION_DAYS"),
        ({"SIGN_IN_LOCKOUT_SECONDS": "0"}, "SIGN_IN_LOCKOUT_SECONDS"),
        ({"SIGN_IN_LOCKOUT_SECONDS": "soon"}, "SIGN_IN_LOCKOUT_SECONDS"),
    ],
)
def test_unsafe_sign_on_cache_or_rate_settings_stop_the_process(env, message, tmp_path):
    result = settings_with({"SECRET_KEY": "x", **env}, tmp_path)

    assert result.returncode != 0 and message in result.stderr


def test_secret_key_is_required_when_debug_is_off(tmp_path):
    result = settings_with({}, tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_a_setting_may_come_from_a_file_without_its_trailing_newline(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("postgres://u:p@db:5432/from_a_file\n")  # as `echo` writes it

    result = settings_with({"SECRET_KEY": "x", "DATABASE_URL_FILE": str(secret)}, tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["db"] == "django.db.backends.postgresql from_a_file"


def test_secret_key_may_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")

    result = settings_with({"SECRET_KEY_FILE": str(secret)}, tmp_path)

    assert result.returncode == 0, result.stderr


def test_debug_may_run_without_a_secret_key(tmp_path):
    result = settings_with({"DEBUG": "1"}, tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is True


def test_a_bad_setting_value_is_refused(tmp_path):
    result = settings_with({"SECRET_KEY": "x", "PREDICTION_LOG_SAMPLE_RATE": "2"}, tmp_path)

    assert result.returncode != 0 and "PREDICTION_LOG_SAMPLE_RATE" in result.stderr
