"""The prediction log is kept PREDICTION_LOG_RETENTION_DAYS; older serving counts are folded
into days, their totals (and so /metrics' counters) unchanged."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from inference.models import PredictionFeedback, PredictionLog, ServingCount
from inference.retention import LOCK_KEY, prediction_log_prune
from tests.hpml_portal.test_metrics import scrape, total

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 30, tzinfo=UTC)


def logged(age: timedelta, feedback: bool = False) -> PredictionLog:
    log = PredictionLog.objects.create(
        model_name="digits", requested="alias:production", outcome="ok", instances=1
    )
    PredictionLog.objects.filter(pk=log.pk).update(created_at=NOW - age)
    if feedback:
        PredictionFeedback.objects.create(prediction=log, labels=[3], correct=1, total=1)
    return log


def counted(minute: datetime, status=200, requests=5, version=1, team_key=1):
    return ServingCount.objects.create(
        minute=minute,
        team_key=team_key,
        model_name="digits",
        version=version,
        status=status,
        requests=requests,
        instances=2 * requests,
        logs_dropped=1,
    )


def rows() -> list[tuple]:
    return list(
        ServingCount.objects.order_by("minute", "version", "status").values_list(
            "minute", "version", "status", "requests", "instances", "logs_dropped"
        )
    )


def totals() -> dict:
    return ServingCount.objects.aggregate(
        r=Sum("requests"), i=Sum("instances"), d=Sum("logs_dropped")
    )


@pytest.fixture(autouse=True)
def _unlocked():
    cache.delete(LOCK_KEY)
    yield
    cache.delete(LOCK_KEY)


def test_old_predictions_go_with_their_feedback_newer_ones_stay(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 30
    old = [logged(timedelta(days=31), feedback=True), logged(timedelta(days=400))]
    kept = [logged(timedelta(days=29), feedback=True), logged(timedelta(minutes=1))]

    done = prediction_log_prune(now=NOW)

    assert done["predictions"] == 2
    assert set(PredictionLog.objects.values_list("pk", flat=True)) == {log.pk for log in kept}
    assert list(PredictionFeedback.objects.values_list("prediction_id", flat=True)) == [kept[0].pk]
    assert not PredictionLog.objects.filter(pk__in=[log.pk for log in old]).exists()


def test_old_counts_are_folded_into_their_day_with_the_same_totals(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 30
    day = datetime(2026, 5, 1, tzinfo=UTC)  # 45 days before NOW
    counted(day)  # the day's first minute: the day's row grows from it
    counted(day + timedelta(hours=3, minutes=7))
    counted(day + timedelta(hours=23, minutes=59), requests=1)
    counted(day + timedelta(hours=5), status=404, requests=2)
    counted(day + timedelta(days=1, minutes=1), version=2)
    recent = NOW - timedelta(days=29, minutes=3)
    counted(recent)
    before = totals()

    done = prediction_log_prune(now=NOW)

    assert done["serving_counts"] == 4
    assert totals() == before
    assert rows() == [
        (day, 1, 200, 11, 22, 3),
        (day, 1, 404, 2, 4, 1),
        (day + timedelta(days=1), 2, 200, 5, 10, 1),
        (recent, 1, 200, 5, 10, 1),
    ]
    # A second run finds nothing more to do.
    assert prediction_log_prune(now=NOW) == {"predictions": 0, "serving_counts": 0}
    assert totals() == before


def test_the_metrics_counters_read_the_same_after_a_prune(settings, client, team):
    settings.PREDICTION_LOG_RETENTION_DAYS = 2
    ServingCount.objects.all().delete()
    for minute in range(7):
        age = timedelta(days=3, minutes=minute)
        counted(timezone.now() - age, status=200 + minute % 2, team_key=team.pk)
    counted(timezone.now() - timedelta(minutes=2), team_key=team.pk)
    name = "hpml_predictions_total"
    before = scrape(client)

    prediction_log_prune(batch=3)

    after = scrape(client)
    assert ServingCount.objects.count() < 8
    for status in ("200", "201"):
        was = total(before, "hpml_predictions", name, model="digits", status=status)
        assert was > 0 and total(after, "hpml_predictions", name, status=status) == was


def test_more_old_rows_than_a_batch_are_all_done(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 2
    for _ in range(7):
        logged(timedelta(days=3))
    for minute in range(1, 6):
        counted(NOW - timedelta(days=3, hours=1, minutes=minute))
    logged(timedelta(days=1))

    done = prediction_log_prune(now=NOW, batch=3)

    assert done == {"predictions": 7, "serving_counts": 5}
    assert PredictionLog.objects.count() == 1 and ServingCount.objects.count() == 1


def test_a_retention_of_zero_keeps_everything(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 0
    logged(timedelta(days=5000))
    counted(NOW - timedelta(days=5000, minutes=1))

    assert prediction_log_prune(now=NOW) == {"predictions": 0, "serving_counts": 0}
    assert PredictionLog.objects.count() == 1 and ServingCount.objects.count() == 1


def test_a_run_out_of_time_leaves_the_rest_to_the_next(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 2
    logged(timedelta(days=3))
    counted(NOW - timedelta(days=3, minutes=1))

    assert prediction_log_prune(now=NOW, seconds=0) == {"predictions": 0, "serving_counts": 0}
    assert prediction_log_prune(now=NOW) == {"predictions": 1, "serving_counts": 1}


def test_runs_do_not_overlap(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 2
    logged(timedelta(days=3))
    cache.add(LOCK_KEY, "another run", 60)

    assert prediction_log_prune(now=NOW) == {"predictions": 0, "serving_counts": 0}
    assert PredictionLog.objects.count() == 1 and cache.get(LOCK_KEY) == "another run"


def test_the_beat_runs_the_task_every_hour(settings):
    from hpml_portal.celery import app
    from inference.tasks import prune_prediction_log

    entry = settings.CELERY_BEAT_SCHEDULE["prune-prediction-log"]
    assert entry["schedule"] == 3600.0 and entry["task"] in app.tasks
    settings.PREDICTION_LOG_RETENTION_DAYS = 10
    PredictionLog.objects.create(model_name="m", requested="alias:production", outcome="ok")
    old = PredictionLog.objects.create(model_name="m", requested="alias:production", outcome="ok")
    PredictionLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=11))

    prune_prediction_log()

    assert PredictionLog.objects.count() == 1 and cache.get(LOCK_KEY) is None
