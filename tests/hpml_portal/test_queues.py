"""A queue is stalled when its oldest waiting job has waited over QUEUE_STALL_SECONDS: no
worker has taken a job from it. /readyz, /metrics and the dashboard say so, without failing."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from datasets.models import DatasetVersion
from experiments.models import TrainingRun
from hpml_portal import queues
from hpml_portal.dashboard import HEALTH_KEY
from tests.factories import DatasetVersionFactory, TrainingRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_health():
    cache.delete(HEALTH_KEY)
    yield
    cache.delete(HEALTH_KEY)


def aged(job, *, made: float, sent: float | None = None, **fields):
    """Make ``job`` look created ``made`` seconds ago (its message sent ``sent`` ago)."""
    now = timezone.now()
    sent_at = None if sent is None else now - timedelta(seconds=sent)
    type(job).objects.filter(pk=job.pk).update(
        created_at=now - timedelta(seconds=made), queued_at=sent_at, **fields
    )
    return job


def queued_run(**ages):
    return aged(TrainingRunFactory(status=TrainingRun.Status.QUEUED), **ages)


def test_with_nothing_waiting_every_queue_reads_0():
    TrainingRunFactory(status=TrainingRun.Status.RUNNING)

    assert queues.oldest_waiting() == {"default": 0.0, "training": 0.0}
    assert queues.describe(queues.stalled(queues.oldest_waiting())) == "ok"


def test_each_queue_is_timed_by_its_oldest_waiting_job():
    queued_run(made=400)
    queued_run(made=10)
    aged(DatasetVersionFactory(status=DatasetVersion.Status.PENDING), made=30)

    ages = queues.oldest_waiting()

    assert 400 <= ages["training"] < 410 and 30 <= ages["default"] < 40


def test_a_lost_message_sent_again_does_not_hide_how_long_the_job_has_waited():
    queued_run(made=1000, sent=5)  # the reaper sent it again 5 s ago; no worker ever took it

    assert queues.oldest_waiting()["training"] >= 1000


def test_a_retried_job_waits_from_when_it_was_sent_again():
    version = DatasetVersionFactory(status=DatasetVersion.Status.PENDING)
    aged(version, made=86400, sent=20, attempt=1)

    assert 20 <= queues.oldest_waiting()["default"] < 30


def test_a_stalled_queue_is_named_by_readyz_metrics_and_the_dashboard(client, admin_user, settings):
    settings.QUEUE_STALL_SECONDS = 300
    queued_run(made=412)
    aged(DatasetVersionFactory(status=DatasetVersion.Status.PENDING), made=200)  # not yet

    ready = client.get("/readyz", REMOTE_ADDR="203.0.113.9")
    scraped = client.get("/metrics").content.decode()
    client.force_login(admin_user)
    page = client.get("/admin/").content.decode()
    data = client.get("/admin/dashboard.json").json()

    assert ready.status_code == 200  # a web process is ready without workers
    checks = ready.json()["checks"]
    assert (
        checks["queues"].startswith("stalled: training (41") and "default" not in checks["queues"]
    )
    assert checks["workers"] == "none seen"
    assert 'hpml_queue_oldest_waiting_seconds{queue="training"} 41' in scraped
    assert (
        412 <= data["health"]["stalled"]["training"] < 420
        and "default" not in data["health"]["stalled"]
    )
    assert "No worker has taken a job for a while: training (oldest waiting 41" in page


def test_the_dashboard_warning_stays_hidden_while_queues_move(client, admin_user):
    queued_run(made=5)
    client.force_login(admin_user)

    page = client.get("/admin/").content.decode()

    assert '<div id="hpml-stalled" role="status" hidden>' in page
