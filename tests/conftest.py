"""Fixtures shared by the suite. Run it with `make test` (scripts/run_tests.py), which points
Django at PostgreSQL, a real S3 endpoint, Redis and a throwaway MLflow store."""

import io
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings

from datasets import formats

if not django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql") or not (
    django_settings.AWS_STORAGE_BUCKET_NAME
):
    pytest.exit(
        "the tests run against PostgreSQL, S3 and Redis: start them with `make test` "
        "(scripts/run_tests.py sets them up)",
        returncode=2,
    )


# Users in tests need no slow password hashing.
django_settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A test's rows live in its transaction, which the log's own thread and connection cannot see:
# requests write their log rows themselves (tests/inference/test_logbook.py runs the thread).
django_settings.PREDICTION_LOG_BACKGROUND = False


@pytest.fixture(autouse=True)
def _isolated_storage(request, monkeypatch):
    """Each test writes under its own prefix of the test bucket, so it sees only its objects.

    The storage object (and its S3 client) is kept; only its key prefix changes. End-to-end
    tests share the bucket root with the worker processes they start.
    """
    if request.node.get_closest_marker("e2e") is None:
        from django.core.files.storage import storages

        monkeypatch.setattr(storages["default"], "location", f"t-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session", autouse=True)
def _no_connection_left(django_db_setup, django_db_blocker):
    """The test database is dropped at the end, which PostgreSQL refuses while a connection is
    open: threads the tests started (a worker's storing or heartbeat thread, a live server's)
    may end without closing theirs. Those are collected, then any still open is ended, so the
    shared server is left as it was found."""
    yield
    import gc

    from django.db import OperationalError, connection

    gc.collect()  # connections of threads that have ended close when collected
    try:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    except OperationalError:
        pass  # no test used the database, so pytest-django made none: nothing to end


@pytest.fixture(autouse=True)
def _fresh_serving_caches():
    """A test's rows are rolled back after it, which no signal tells the serving caches."""
    from hpml_portal.ttl_cache import clear_all

    clear_all()


@pytest.fixture(autouse=True)
def _empty_queues():
    """No message left by one test reaches another test's worker."""
    yield
    from tests.helpers import purge_queues

    purge_queues()


@pytest.fixture
def team(db):
    """The default team: where the services put what is made without naming a team."""
    from accounts.selectors import team_default

    return team_default()


@pytest.fixture
def user(django_user_model, team):
    """alice, approver in the default team: she may read, ingest, train and promote there."""
    from accounts.models import Membership

    alice = django_user_model.objects.create_user(username="alice", password="pw-alice-123")
    Membership.objects.create(team=team, user=alice, role="approver")
    return alice


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="pw-root-123")


def token_client(user, **token_options):
    """An API client signed in with a new token of ``user``."""
    from rest_framework.test import APIClient

    from accounts.services import api_token_create

    _, key = api_token_create(user=user, **token_options)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api_client(user):
    return token_client(user)


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    formats.write_npz(buffer, **arrays)
    return buffer.getvalue()


@pytest.fixture
def small_npz() -> bytes:
    """A tiny separable 3-class dataset, 8 features."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    x = rng.normal(size=(90, 8)).astype(np.float32) + y[:, None] * 3
    return npz_bytes(x=x, y=y)


@pytest.fixture
def ready_version(db, small_npz):
    """A READY dataset version, ingested through the real services (no worker needed)."""
    from datasets import services
    from datasets.ingest import dataset_version_execute

    version, _ = services.dataset_version_ingest(
        dataset_name="blobs",
        source=services.IngestSource.upload(io.BytesIO(small_npz), "blobs.npz"),
    )
    return dataset_version_execute(version_id=version.pk)


@pytest.fixture(scope="session")
def trained_model_file(tmp_path_factory):
    """A small Keras model trained once per session on the digits data, saved as .keras."""
    from sklearn.datasets import load_digits

    from experiments.training import trainer

    digits = load_digits()
    result = trainer.train(
        digits.data, digits.target, architecture="mlp", hyperparameters={"epochs": 3}
    )
    path = tmp_path_factory.mktemp("model") / "digits.keras"
    result.model.save(path)
    return path, result


@pytest.fixture
def model_version(db, trained_model_file):
    """Version 1 of model "digits", registered from the session's trained file (no alias)."""
    from tests.helpers import register_trained_digits

    return register_trained_digits(*trained_model_file, architecture="mlp")


@pytest.fixture(scope="module")
def worker_env(django_db_setup):
    """Environment for processes that must use this test session's database."""
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    return env


@pytest.fixture(scope="session")
def digits():
    """Real digits rows (64 raw pixel values each) and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data, data.target


@pytest.fixture
def production(model_version):
    """The session's trained digits model, registered as version 1 and promoted."""
    from models_registry.services import model_alias_set

    model_alias_set(model_version=model_version, alias="production")
    return model_version


@pytest.fixture
def second_version(model_version):
    """Version 2 of "digits": the same stored file registered again."""
    from models_registry.services import Artifact, model_version_register

    return model_version_register(
        model_name="digits",
        artifact=Artifact(model_version.artifact.name, model_version.sha256, 1),
        signature=model_version.signature,
        metrics={},
    )


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def worker(worker_env, tmp_path_factory):
    """A real Celery worker process on both queues, using this session's test database."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "hpml_portal",
                "worker",
                "-Q",
                "default,training",
                "--concurrency",
                "1",
                "--prefetch-multiplier",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so teardown can stop its pool children too
        )
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if os.environ.get("HPML_SHOW_WORKER_LOG"):
        sys.stderr.write(log.read_text())


@pytest.fixture
def alive(worker):
    """The worker, checked to be running before and after the test."""
    assert worker.poll() is None, "the worker exited"
    yield worker
    assert worker.poll() is None, "the worker exited during the test"
