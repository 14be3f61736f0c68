import pytest

from experiments.models import TrainingRun
from tests.helpers import broker_unreachable, queued_tasks


@pytest.fixture
def experiment(api_client):
    return api_client.post("/api/v1/experiments/", {"name": "blobs"}, format="json").json()


def submit(api_client, experiment, **payload):
    return api_client.post(f"/api/v1/experiments/{experiment['id']}/runs/", payload, format="json")


@pytest.mark.django_db(transaction=True)
def test_a_run_request_answers_202_and_queues_the_run(api_client, experiment, ready_version, user):
    answer = submit(
        api_client,
        experiment,
        dataset_version=ready_version.pk,
        model_name="blobs",
        hyperparameters={"epochs": 2},
    )

    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["status"] == "QUEUED" and body["dataset"] == "blobs:1"
    assert body["architecture"] == "mlp" and body["hyperparameters"]["epochs"] == 2
    assert body["created_by"] == user.username
    assert ("experiments.tasks.train_run", [body["id"]]) in queued_tasks("training")
    listing = api_client.get(f"/api/v1/experiments/{experiment['id']}/runs/").json()
    assert [r["id"] for r in listing["results"]] == [body["id"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"architecture": "rnn"}, "unknown architecture 'rnn'"),
        ({"hyperparameters": {"epochs": "ten"}}, "epochs must be a number, got 'ten'"),
        ({"hyperparameters": {"dropout": 2}}, "dropout must be between"),
        ({"dataset_version": 999999}, "dataset version 999999 does not exist"),
        ({"model_name": "no spaces"}, "model_name"),
    ],
)
def test_a_bad_run_request_is_400_and_creates_no_run(
    api_client, experiment, ready_version, payload, message
):
    answer = submit(
        api_client,
        experiment,
        **{"dataset_version": ready_version.pk, "model_name": "blobs", **payload},
    )

    assert answer.status_code == 400
    assert message in str(answer.json())
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_a_version_that_is_not_ready_is_refused(api_client, experiment, ready_version):
    ready_version.status = "PENDING"
    ready_version.save()

    answer = submit(api_client, experiment, dataset_version=ready_version.pk, model_name="blobs")

    assert answer.status_code == 400 and "not READY" in answer.json()["detail"]
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_cancel_ends_a_queued_run_and_refuses_an_ended_one(api_client, experiment, ready_version):
    run = submit(api_client, experiment, dataset_version=ready_version.pk, model_name="m").json()

    first = api_client.post(f"/api/v1/runs/{run['id']}/cancel/")
    second = api_client.post(f"/api/v1/runs/{run['id']}/cancel/")

    assert first.status_code == 200 and first.json()["status"] == "CANCELLED"
    assert second.status_code == 409 and "already ended" in second.json()["detail"]


@pytest.mark.django_db
def test_runs_are_listed_and_shown(api_client, experiment, ready_version):
    run = submit(api_client, experiment, dataset_version=ready_version.pk, model_name="m").json()

    assert api_client.get(f"/api/v1/runs/{run['id']}/").json()["status"] == "QUEUED"
    assert api_client.get("/api/v1/runs/").json()["count"] == 1
    assert api_client.get("/api/v1/runs/999999/").status_code == 404


@pytest.mark.django_db
def test_the_experiments_api_needs_credentials(client):
    assert client.get("/api/v1/experiments/").status_code in (401, 403)
    assert client.post("/api/v1/runs/1/cancel/").status_code in (401, 403)


@pytest.mark.django_db(transaction=True)
def test_a_run_that_cannot_be_queued_is_503_and_ends_failed(api_client, experiment, ready_version):
    with broker_unreachable():
        answer = submit(api_client, experiment, dataset_version=ready_version.pk, model_name="m")

    assert answer.status_code == 503 and "could not queue the run" in answer.json()["detail"]
    assert TrainingRun.objects.get().status == "FAILED"


@pytest.mark.django_db
def test_a_cancelled_run_is_retried_as_a_new_run_with_the_same_inputs(
    api_client, experiment, ready_version
):
    first = submit(
        api_client,
        experiment,
        dataset_version=ready_version.pk,
        model_name="m",
        hyperparameters={"epochs": 3, "optimizer": "sgd"},
    ).json()
    refused = api_client.post(f"/api/v1/runs/{first['id']}/retry/")
    api_client.post(f"/api/v1/runs/{first['id']}/cancel/")

    answer = api_client.post(f"/api/v1/runs/{first['id']}/retry/")

    assert refused.status_code == 409 and "only FAILED or CANCELLED" in refused.json()["detail"]
    assert answer.status_code == 202, answer.content
    again = answer.json()
    assert again["id"] != first["id"] and again["retry_of"] == first["id"]
    assert again["status"] == "QUEUED" and again["hyperparameters"] == first["hyperparameters"]
    assert (again["dataset_version"], again["model_name"]) == (ready_version.pk, "m")
    succeeded = TrainingRun.objects.filter(pk=first["id"])
    succeeded.update(status="SUCCEEDED")
    assert api_client.post(f"/api/v1/runs/{first['id']}/retry/").status_code == 409
    assert TrainingRun.objects.count() == 2


@pytest.mark.django_db
def test_a_run_is_retried_once_at_a_time(api_client, experiment, ready_version):
    first = submit(api_client, experiment, dataset_version=ready_version.pk, model_name="m").json()
    api_client.post(f"/api/v1/runs/{first['id']}/cancel/")

    again = api_client.post(f"/api/v1/runs/{first['id']}/retry/")
    twice = api_client.post(f"/api/v1/runs/{first['id']}/retry/")

    assert again.status_code == 202
    assert (
        twice.status_code == 409
        and f"already being retried by run {again.json()['id']}" in (twice.json()["detail"])
    )
    assert TrainingRun.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_retry_that_cannot_be_queued_is_503(api_client, experiment, ready_version):
    first = submit(api_client, experiment, dataset_version=ready_version.pk, model_name="m").json()
    api_client.post(f"/api/v1/runs/{first['id']}/cancel/")

    with broker_unreachable():
        answer = api_client.post(f"/api/v1/runs/{first['id']}/retry/")

    assert answer.status_code == 503 and "could not queue" in answer.json()["detail"]
