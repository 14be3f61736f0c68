from datetime import timedelta

import pytest
from django.utils import timezone

from datasets.models import DatasetVersion
from experiments import services
from experiments.models import Experiment, TrainingRun
from hpml_portal.jobs import job_reap
from tests.helpers import queued_tasks


@pytest.fixture
def experiment(db):
    return services.experiment_get_or_create(name="blobs")


def create(experiment, version, **kwargs):
    return services.training_run_create(
        experiment_name=kwargs.pop("experiment_name", experiment.name),
        dataset_version=version,
        model_name=kwargs.pop("model_name", "blobs"),
        **kwargs,
    )


@pytest.mark.django_db(transaction=True)
def test_a_run_is_queued_for_the_training_workers_after_commit(experiment, ready_version, user):
    run = create(experiment, ready_version, hyperparameters={"epochs": "3"}, user=user)

    assert run.status == "QUEUED" and run.created_by == user
    assert run.hyperparameters["epochs"] == 3  # coerced, and defaults filled in
    assert run.hyperparameters["batch_size"] == 32
    assert queued_tasks("training") == [("experiments.tasks.train_run", [run.pk])]
    assert all(name != "experiments.tasks.train_run" for name, _ in queued_tasks("default"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"architecture": "transformer"}, "unknown architecture 'transformer'"),
        ({"hyperparameters": {"epochs": "many"}}, "epochs must be a number, got 'many'"),
        ({"hyperparameters": {"epochs": 2.5}}, "epochs must be a whole number"),
        ({"hyperparameters": {"learning_rate": 5}}, "learning_rate must be between"),
        ({"hyperparameters": {"epochs": True}}, "epochs must be a number"),
        ({"hyperparameters": {"nesterov": True}}, "unknown hyperparameter 'nesterov'"),
        ({"hyperparameters": {"optimizer": "rmsprop"}}, "optimizer must be one of adam, sgd"),
        ({"hyperparameters": {"early_stopping_patience": 500}}, "early_stopping_patience must be"),
        ({"architecture": "cnn"}, "cnn needs image-shaped features"),
        ({"model_name": "bad name!"}, "invalid model name"),
    ],
)
def test_a_bad_request_is_refused_and_creates_no_run(experiment, ready_version, kwargs, message):
    with pytest.raises(services.TrainingError, match=message):
        create(experiment, ready_version, experiment_name="brand-new", **kwargs)

    assert not TrainingRun.objects.exists()
    assert not Experiment.objects.filter(name="brand-new").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["PENDING", "FAILED"])
def test_a_version_that_is_not_ready_cannot_be_trained_on(experiment, ready_version, status):
    DatasetVersion.objects.filter(pk=ready_version.pk).update(status=status)
    ready_version.refresh_from_db()

    with pytest.raises(services.TrainingError, match=f"is {status}, not READY"):
        create(experiment, ready_version)

    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_a_run_is_claimed_once(experiment, ready_version):
    run = create(experiment, ready_version)

    assert services.training_run_claim(run_id=run.pk, worker="w1")
    assert not services.training_run_claim(run_id=run.pk, worker="w2")
    run.refresh_from_db()
    assert run.status == "RUNNING" and run.worker == "w1" and run.heartbeat_at is not None


@pytest.mark.django_db
def test_cancelling_a_queued_run_ends_it_and_it_is_never_claimed(experiment, ready_version):
    run = create(experiment, ready_version)

    run = services.training_run_cancel(run=run)

    assert run.status == "CANCELLED" and run.finished_at is not None
    assert not services.training_run_claim(run_id=run.pk)


@pytest.mark.django_db
def test_cancelling_a_running_run_flags_it_for_its_worker(experiment, ready_version):
    run = create(experiment, ready_version)
    services.training_run_claim(run_id=run.pk)

    run = services.training_run_cancel(run=run)

    assert run.status == "RUNNING" and run.cancel_requested
    assert services.training_run_report(run_id=run.pk) is True  # the worker is told to stop


@pytest.mark.django_db
def test_an_ended_run_cannot_be_cancelled(experiment, ready_version):
    run = create(experiment, ready_version)
    services.training_run_fail(run_id=run.pk, error="boom")
    run.refresh_from_db()

    with pytest.raises(services.TrainingError, match="already ended"):
        services.training_run_cancel(run=run)

    run.refresh_from_db()
    assert run.status == "FAILED" and run.error == "boom"


@pytest.mark.django_db
def test_a_report_records_the_heartbeat_and_the_epoch(experiment, ready_version):
    run = create(experiment, ready_version, hyperparameters={"epochs": 4})
    services.training_run_claim(run_id=run.pk)

    stop = services.training_run_report(run_id=run.pk, epoch=1, total_epochs=4, history=[{"e": 1}])

    run.refresh_from_db()
    assert stop is False
    assert run.current_epoch == 1 and run.progress == 0.25 and run.history == [{"e": 1}]


@pytest.mark.django_db
def test_a_terminal_run_is_not_moved_again(experiment, ready_version):
    run = create(experiment, ready_version)
    services.training_run_finish(run_id=run.pk, status="CANCELLED")

    run = services.training_run_finish(run_id=run.pk, status="SUCCEEDED")

    assert run.status == "CANCELLED"


@pytest.mark.django_db
def test_the_reaper_fails_runs_whose_heartbeat_stopped(experiment, ready_version):
    stale, fresh, queued = (create(experiment, ready_version) for _ in range(3))
    for run in (stale, fresh):
        services.training_run_claim(run_id=run.pk)
    TrainingRun.objects.filter(pk=stale.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=120)
    )

    reaped = job_reap(stale_after=60, requeue_after=3600)

    assert reaped == [("training run", stale.pk, "reaped")]
    statuses = dict(TrainingRun.objects.values_list("pk", "status"))
    assert statuses == {stale.pk: "FAILED", fresh.pk: "RUNNING", queued.pk: "QUEUED"}
    assert "heartbeats" in TrainingRun.objects.get(pk=stale.pk).error


@pytest.mark.django_db
def test_the_reaper_also_ends_the_mlflow_run(
    experiment, ready_version, django_capture_on_commit_callbacks
):
    import mlflow
    from django.conf import settings

    from experiments.tasks import end_mlflow_run
    from hpml_portal import mlflow_client

    client = mlflow.MlflowClient(settings.MLFLOW_TRACKING_URI)
    tracked = client.create_run(mlflow_client.experiment_id("reaper-test"))
    run = create(experiment, ready_version)
    services.training_run_claim(run_id=run.pk)
    TrainingRun.objects.filter(pk=run.pk).update(
        mlflow_run_id=tracked.info.run_id, heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        job_reap(stale_after=60, requeue_after=3600)

    queued = queued_tasks("default")
    assert ("experiments.tasks.end_mlflow_run", [tracked.info.run_id, "FAILED"]) in queued
    end_mlflow_run(tracked.info.run_id, "FAILED")
    assert client.get_run(tracked.info.run_id).info.status == "FAILED"
