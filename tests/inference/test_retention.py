"""The prediction log and the serving counts are kept PREDICTION_LOG_RETENTION_DAYS."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inference.models import PredictionFeedback, PredictionLog, ServingCount
from inference.retention import prediction_log_prune

pytestmark = pytest.mark.django_db


def logged(age: timedelta, name: str = "digits", feedback: bool = False) -> PredictionLog:
    log = PredictionLog.objects.create(
        model_name=name, requested="alias:production", outcome="ok", instances=1, predictions=[3]
    )
    PredictionLog.objects.filter(pk=log.pk).update(created_at=timezone.now() - age)
    if feedback:
        PredictionFeedback.objects.create(prediction=log, labels=[3], correct=1, total=1)
    return log


def counted(age: timedelta, status: int = 200) -> ServingCount:
    minute = (timezone.now() - age).replace(second=0, microsecond=0)
    return ServingCount.objects.create(
        minute=minute, team_key=1, model_name="digits", version=1, status=status, requests=5
    )


def test_rows_older_than_the_retention_go_with_their_feedback_newer_ones_stay(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 30
    old = [logged(timedelta(days=31), feedback=True), logged(timedelta(days=400))]
    kept = [logged(timedelta(days=29), feedback=True), logged(timedelta(minutes=1))]
    old_count, kept_count = counted(timedelta(days=30, minutes=5)), counted(timedelta(days=29))

    deleted = prediction_log_prune()

    assert deleted == {"predictions": 2, "serving_counts": 1}
    assert set(PredictionLog.objects.values_list("pk", flat=True)) == {log.pk for log in kept}
    assert list(PredictionFeedback.objects.values_list("prediction_id", flat=True)) == [kept[0].pk]
    assert list(ServingCount.objects.values_list("pk", flat=True)) == [kept_count.pk]
    assert not PredictionLog.objects.filter(pk__in=[log.pk for log in old]).exists()
    assert not ServingCount.objects.filter(pk=old_count.pk).exists()


def test_more_old_rows_than_a_batch_are_all_deleted(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 2
    for _ in range(7):
        logged(timedelta(days=3))
    for status in (200, 400, 404, 409, 413):
        counted(timedelta(days=3), status=status)
    logged(timedelta(days=1))

    deleted = prediction_log_prune(batch=3)

    assert deleted == {"predictions": 7, "serving_counts": 5}
    assert PredictionLog.objects.count() == 1 and not ServingCount.objects.exists()


def test_a_retention_of_zero_keeps_everything(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 0
    logged(timedelta(days=5000))
    counted(timedelta(days=5000))

    assert prediction_log_prune() == {"predictions": 0, "serving_counts": 0}
    assert PredictionLog.objects.count() == 1 and ServingCount.objects.count() == 1


def test_nothing_old_deletes_nothing(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 90
    logged(timedelta(days=1))

    assert prediction_log_prune() == {"predictions": 0, "serving_counts": 0}
    assert PredictionLog.objects.count() == 1


def test_the_beat_runs_the_task_every_hour(settings):
    from hpml_portal.celery import app
    from inference.tasks import prune_prediction_log

    entry = settings.CELERY_BEAT_SCHEDULE["prune-prediction-log"]
    assert entry["schedule"] == 3600.0 and entry["task"] in app.tasks
    settings.PREDICTION_LOG_RETENTION_DAYS = 10
    logged(timedelta(days=11))
    logged(timedelta(days=9))

    prune_prediction_log()

    assert PredictionLog.objects.count() == 1
