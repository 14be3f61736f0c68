from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from experiments import services
from experiments.models import Experiment, TrainingRun
from tests.helpers import broker_unreachable


def run(name: str, *args) -> list[str]:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_train_without_wait_prints_the_run_id_last(ready_version):
    lines = run(
        "train",
        "--dataset",
        "blobs",
        "--experiment",
        "e1",
        "--model-name",
        "m1",
        "--param",
        "epochs=4",
        "--param",
        "learning_rate=0.01",
    )

    created = TrainingRun.objects.get()
    assert lines[-1] == str(created.pk)
    assert (
        created.hyperparameters["epochs"] == 4 and created.hyperparameters["learning_rate"] == 0.01
    )
    assert created.experiment.name == "e1" and created.dataset_version == ready_version


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "nope"], "there is no dataset named 'nope'"),
        (["--dataset", "blobs:7"], "dataset 'blobs' has no version 7"),
        (["--dataset", "blobs:x"], "invalid dataset reference"),
        (["--dataset", "blobs:²"], "invalid dataset reference"),
        (["--dataset", "blobs", "--architecture", "cnn"], "cnn needs image-shaped features"),
        (["--dataset", "blobs", "--param", "epochs"], "--param takes key=value"),
        (["--dataset", "blobs", "--param", "epochs=lots"], "epochs must be a number"),
        (["--dataset", "blobs", "--param", "colour=red"], "unknown hyperparameter 'colour'"),
    ],
)
def test_a_bad_train_request_exits_with_a_reason_and_creates_no_run(ready_version, args, message):
    with pytest.raises(CommandError, match=message):
        run("train", "--experiment", "e", "--model-name", "m", *args)

    assert not TrainingRun.objects.exists() and not Experiment.objects.exists()


@pytest.mark.django_db
def test_train_names_a_dataset_without_a_ready_version(ready_version):
    ready_version.status = "FAILED"
    ready_version.save()

    with pytest.raises(CommandError, match="dataset 'blobs' has no READY version"):
        run("train", "--dataset", "blobs", "--experiment", "e", "--model-name", "m")


@pytest.mark.django_db
def test_cancel_run_cancels_a_queued_run_and_refuses_what_it_cannot(ready_version):
    run_id = run("train", "--dataset", "blobs", "--experiment", "e", "--model-name", "m")[-1]

    assert run("cancel_run", run_id) == [f"run {run_id} CANCELLED"]
    with pytest.raises(CommandError, match="already ended"):
        run("cancel_run", run_id)
    with pytest.raises(CommandError, match="there is no run 424242"):
        run("cancel_run", "424242")


@pytest.mark.django_db
def test_reap_runs_closes_the_runs_that_stopped_beating(ready_version):
    dead = services.training_run_create(
        experiment_name="e", dataset_version=ready_version, model_name="m"
    )
    services.training_run_claim(run_id=dead.pk)
    TrainingRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    lines = run("reap_runs", "--stale-after", "60")

    assert lines == [
        f"training run {dead.pk} FAILED: no heartbeat for 60s",
        "reaped 1 job(s), sent 0 again",
    ]
    with pytest.raises(CommandError, match="at least 1 second"):
        run("reap_runs", "--stale-after", "0")


@pytest.mark.django_db(transaction=True)
def test_train_exits_with_the_reason_when_the_run_cannot_be_queued(ready_version):
    with broker_unreachable(), pytest.raises(CommandError, match="could not queue the run"):
        run("train", "--dataset", "blobs", "--experiment", "e", "--model-name", "m")

    assert TrainingRun.objects.get().status == "FAILED"


def test_the_live_progress_line_says_epoch_batch_pace_and_time_left():
    from experiments.management.commands.train import progress_line

    run = TrainingRun(
        hyperparameters={"epochs": 20},
        current_epoch=2,
        batches_done=17,
        batches_per_epoch=45,
        samples_per_second=5321.4,
        eta_seconds=125.0,
    )

    assert progress_line(run) == "epoch 3/20  batch 17/45  5,321 samples/s  ETA 2:05"
