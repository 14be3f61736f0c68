"""What the experiments API's schema promises, and the API keeping to it (found by the fuzz)."""

import pytest

from experiments.models import TrainingRun
from tests.factories import SweepFactory, TrainingRunFactory
from tests.openapi import component, operation, request_schema

RUNS = "/api/v1/experiments/{experiment_pk}/runs/"
SWEEPS = "/api/v1/experiments/{experiment_pk}/sweeps/"


@pytest.fixture
def experiment(api_client):
    return api_client.post("/api/v1/experiments/", {"name": "exp"}, format="json").json()


def runs_url(experiment) -> str:
    return f"/api/v1/experiments/{experiment['id']}/runs/"


def test_who_made_a_run_or_sweep_may_be_null_by_the_schema():
    assert component("TrainingRun")["properties"]["created_by"]["nullable"] is True
    assert component("Sweep")["properties"]["created_by"]["nullable"] is True


@pytest.mark.django_db
def test_a_run_and_a_sweep_made_by_a_command_answer_a_null_maker(api_client, team):
    run = TrainingRunFactory(experiment__team=team, created_by=None)
    sweep = SweepFactory(experiment=run.experiment, dataset_version=run.dataset_version)

    assert api_client.get(f"/api/v1/runs/{run.pk}/").json()["created_by"] is None
    assert api_client.get(f"/api/v1/sweeps/{sweep.pk}/").json()["created_by"] is None


def _variant(schema: dict, architecture: str) -> dict:
    return next(
        form
        for form in schema["oneOf"]
        if form["properties"]["architecture"]["allOf"][0]["enum"] == [architecture]
    )


def test_each_architecture_has_its_hyperparameters_in_the_schema():
    body = request_schema(RUNS, "POST")
    mlp = _variant(body, "mlp")["properties"]["hyperparameters"]
    cnn = _variant(body, "cnn")["properties"]["hyperparameters"]

    assert mlp["additionalProperties"] is False and cnn["additionalProperties"] is False
    assert mlp["properties"]["hidden_units"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 8192,
        "default": 128,
        "description": "units in each hidden layer",
    }
    assert "filters" in cnn["properties"] and "filters" not in mlp["properties"]
    assert mlp["properties"]["optimizer"]["enum"] == ["adam", "sgd", "adamw"]
    assert "lr_decay_epochs must be fewer than epochs" in mlp["description"]
    assert "architecture" not in _variant(body, "mlp").get("required", [])
    assert "architecture" in _variant(body, "cnn")["required"]


def test_a_sweep_space_lists_distinct_values_of_each_hyperparameter_by_the_schema():
    space = _variant(request_schema(SWEEPS, "POST"), "mlp")["properties"]["space"]

    assert space["minProperties"] == 1 and space["additionalProperties"] is False
    single, listed = space["properties"]["epochs"]["oneOf"]
    assert single["type"] == "integer" and listed["uniqueItems"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    "hyperparameters, message",
    [
        ({"epochs": "5"}, "epochs must be a number, got '5'"),
        ({"epochs": 2.5}, "epochs must be a whole number"),
        ({"learning_rate": True}, "learning_rate must be a number"),
        ({"optimizer": " adam"}, "optimizer must be one of adam, sgd, adamw"),
    ],
)
def test_a_hyperparameter_of_the_wrong_json_type_is_400(
    hyperparameters, message, api_client, experiment, ready_version
):
    body = {"dataset_version": ready_version.pk, "model_name": "m"}
    answer = api_client.post(
        runs_url(experiment), {**body, "hyperparameters": hyperparameters}, format="json"
    )

    assert answer.status_code == 400, answer.content
    assert message in answer.json()["detail"]
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_runs_and_sweeps_take_json_bodies_only(api_client, experiment, ready_version):
    form = {"dataset_version": ready_version.pk, "model_name": "m", "architecture": ""}

    assert api_client.post(runs_url(experiment), form).status_code == 415
    sweeps = f"/api/v1/experiments/{experiment['id']}/sweeps/"
    assert api_client.post(sweeps, form).status_code == 415
    assert list(operation(RUNS, "POST")["requestBody"]["content"]) == ["application/json"]


@pytest.mark.django_db
@pytest.mark.parametrize("space", [None, [], "epochs"])
def test_a_sweep_space_that_is_not_an_object_is_400(space, api_client, experiment, ready_version):
    body = {"dataset_version": ready_version.pk, "model_name": "m", "space": space}
    answer = api_client.post(f"/api/v1/experiments/{experiment['id']}/sweeps/", body, format="json")

    assert answer.status_code == 400 and "space" in answer.json()


@pytest.mark.django_db
def test_a_number_where_the_body_takes_text_is_400(api_client, experiment, ready_version):
    body = {"dataset_version": ready_version.pk, "model_name": 0}

    answer = api_client.post(runs_url(experiment), body, format="json")

    assert answer.status_code == 400
    assert answer.json()["model_name"] == ["Not a valid string."]
    assert not TrainingRun.objects.exists()
