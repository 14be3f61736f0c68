"""The job lifecycle every kind of job shares: claim, heartbeat, finish, release, and the one
reaper that closes dead jobs and sends lost messages again."""

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from datasets.models import DatasetVersion
from experiments.models import TrainingRun
from hpml_portal.jobs import (
    Heartbeat,
    JobStatus,
    job_beat,
    job_claim,
    job_finish,
    job_reap,
    job_release,
)
from tests.factories import DatasetVersionFactory, TrainingRunFactory
from tests.helpers import broker_unreachable, queued_tasks


def pending_version(**fields):
    return DatasetVersionFactory(status="PENDING", sha256="", file="", **fields)


@pytest.mark.django_db
def test_only_one_worker_claims_a_job_and_an_ended_one_is_never_claimed():
    version = pending_version()

    assert job_claim(DatasetVersion, version.pk, worker="w1")
    assert not job_claim(DatasetVersion, version.pk, worker="w2")
    version.refresh_from_db()
    assert version.status == "INGESTING" and version.worker == "w1" and version.started_at

    assert job_finish(DatasetVersion, version.pk, JobStatus.READY)
    assert not job_claim(DatasetVersion, version.pk)


@pytest.mark.django_db
def test_the_first_end_wins_and_a_non_terminal_end_is_refused():
    version = pending_version()

    assert job_finish(DatasetVersion, version.pk, JobStatus.FAILED, error="first")
    assert not job_finish(DatasetVersion, version.pk, JobStatus.READY)
    with pytest.raises(ValueError, match="not a terminal status"):
        job_finish(DatasetVersion, version.pk, JobStatus.INGESTING)
    version.refresh_from_db()
    assert version.status == "FAILED" and version.error == "first"


@pytest.mark.django_db
def test_a_heartbeat_only_moves_an_active_job_and_release_puts_it_back():
    version = pending_version()
    assert not job_beat(DatasetVersion, version.pk, bytes_done=5)

    job_claim(DatasetVersion, version.pk, worker="w1")
    assert job_beat(DatasetVersion, version.pk, bytes_done=5)
    assert job_release(DatasetVersion, version.pk)

    version.refresh_from_db()
    assert version.status == "PENDING" and version.bytes_done == 5 and version.worker == ""


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_writes_progress_while_the_job_works():
    version = pending_version()
    job_claim(DatasetVersion, version.pk)
    DatasetVersion.objects.filter(pk=version.pk).update(heartbeat_at=None)

    with Heartbeat(DatasetVersion, version.pk, interval=0.05) as beat:
        beat.update(bytes_done=123, bytes_total=1000)
        time.sleep(0.5)

    version.refresh_from_db()
    assert version.heartbeat_at is not None and version.bytes_done == 123
    assert not beat.lost


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_notices_a_job_closed_under_it():
    version = pending_version()
    job_claim(DatasetVersion, version.pk)

    with Heartbeat(DatasetVersion, version.pk, interval=0.05) as beat:
        job_finish(DatasetVersion, version.pk, JobStatus.FAILED, error="reaped")
        time.sleep(0.5)

    assert beat.lost


@pytest.mark.django_db
def test_the_reaper_closes_every_kind_of_job_whose_heartbeat_stopped():
    old = timezone.now() - timedelta(hours=1)
    ingest, fresh = pending_version(), pending_version()
    run = TrainingRunFactory(status="QUEUED")
    for model, pk in (
        (DatasetVersion, ingest.pk),
        (DatasetVersion, fresh.pk),
        (TrainingRun, run.pk),
    ):
        job_claim(model, pk)
    DatasetVersion.objects.filter(pk=ingest.pk).update(heartbeat_at=old)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=old)

    done = job_reap(stale_after=60, requeue_after=3600)

    assert sorted(done) == [
        ("dataset version", ingest.pk, "reaped"),
        ("training run", run.pk, "reaped"),
    ]
    statuses = dict(
        DatasetVersion.objects.filter(pk__in=[ingest.pk, fresh.pk]).values_list("pk", "status")
    )
    assert statuses == {ingest.pk: "FAILED", fresh.pk: "INGESTING"}
    assert "heartbeats" in DatasetVersion.objects.get(pk=ingest.pk).error
    assert TrainingRun.objects.get(pk=run.pk).status == "FAILED"


@pytest.mark.django_db
def test_a_job_whose_message_was_lost_is_sent_again():
    lost = pending_version()
    recent = pending_version()
    DatasetVersion.objects.filter(pk=lost.pk).update(queued_at=timezone.now() - timedelta(hours=1))
    DatasetVersion.objects.filter(pk=recent.pk).update(queued_at=timezone.now())

    done = job_reap(stale_after=60, requeue_after=600)

    assert done == [("dataset version", lost.pk, "requeued")]
    assert queued_tasks("default") == [("datasets.tasks.ingest", [lost.pk])]
    lost.refresh_from_db()
    assert lost.status == "PENDING" and lost.queued_at > timezone.now() - timedelta(minutes=1)


@pytest.mark.django_db
def test_a_lost_job_that_cannot_be_sent_now_waits_for_the_next_round():
    lost = pending_version()
    DatasetVersion.objects.filter(pk=lost.pk).update(queued_at=timezone.now() - timedelta(hours=1))

    with broker_unreachable():
        assert job_reap(stale_after=60, requeue_after=600) == []

    lost.refresh_from_db()
    assert lost.status == "PENDING"  # its first message may well still be queued
    assert job_reap(stale_after=60, requeue_after=600) == [("dataset version", lost.pk, "requeued")]


@pytest.mark.django_db
def test_nothing_is_sent_again_while_workers_still_take_jobs_of_that_kind():
    old = timezone.now() - timedelta(hours=1)
    waiting = [TrainingRunFactory(status="QUEUED") for _ in range(2)]
    TrainingRun.objects.filter(pk__in=[r.pk for r in waiting]).update(queued_at=old)
    running = TrainingRunFactory(status="QUEUED")
    job_claim(TrainingRun, running.pk)  # a worker took one a moment ago: the queue moves

    assert job_reap(stale_after=3600, requeue_after=600) == []
    assert queued_tasks("training") == []

    TrainingRun.objects.filter(pk=running.pk).update(started_at=old)
    done = job_reap(stale_after=3600 * 2, requeue_after=600)
    assert sorted(done) == sorted(("training run", r.pk, "requeued") for r in waiting)


@pytest.mark.django_db
def test_a_worker_whose_claim_was_taken_over_changes_nothing():
    version = pending_version()
    first = job_claim(DatasetVersion, version.pk, worker="w1")
    job_finish(DatasetVersion, version.pk, JobStatus.FAILED, error="reaped")
    DatasetVersion.objects.filter(pk=version.pk).update(status="PENDING")  # retried
    second = job_claim(DatasetVersion, version.pk, worker="w2")

    assert second == first + 1
    assert not job_beat(DatasetVersion, version.pk, attempt=first, bytes_done=1)
    assert not job_release(DatasetVersion, version.pk, attempt=first)
    assert not job_finish(DatasetVersion, version.pk, JobStatus.FAILED, attempt=first)
    assert job_finish(DatasetVersion, version.pk, JobStatus.READY, attempt=second)
    version.refresh_from_db()
    assert version.status == "READY" and version.worker == "w2" and version.bytes_done == 0


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_reconnects_after_its_connection_is_killed():
    from django.db import connection

    version = pending_version()
    attempt = job_claim(DatasetVersion, version.pk)
    with Heartbeat(DatasetVersion, version.pk, attempt=attempt, interval=0.05) as beat:
        time.sleep(0.3)
        with connection.cursor() as cursor:  # what a failover or an idle-connection kill does
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        DatasetVersion.objects.filter(pk=version.pk).update(heartbeat_at=None)
        beat.update(bytes_done=7)
        time.sleep(1.0)

    version.refresh_from_db()
    assert version.heartbeat_at is not None and version.bytes_done == 7


@pytest.mark.django_db
def test_the_reap_command_reports_both_kinds_of_work(capsys):
    lost = pending_version()
    DatasetVersion.objects.filter(pk=lost.pk).update(queued_at=timezone.now() - timedelta(hours=1))

    call_command("reap_runs", "--stale-after", "60", "--requeue-after", "600")

    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"dataset version {lost.pk} was waiting too long: sent again",
        "reaped 0 job(s), sent 1 again",
    ]
