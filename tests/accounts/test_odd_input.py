"""Odd bodies, headers and parameters get a clear 4xx and change nothing: never a 500."""

import pytest

from accounts.models import AuditEvent, Membership
from datasets.models import Dataset, DatasetVersion
from experiments.models import Experiment, Sweep, TrainingRun
from models_registry.models import AliasEvent
from tests.conftest import token_client
from tests.factories import DatasetVersionFactory, ExperimentFactory, ModelVersionFactory, member

pytestmark = pytest.mark.django_db

NOT_OBJECTS = ["[]", '"text"', "null", "42", "{"]
ODD_OBJECTS = [
    '{"name": {"a": 1}, "team": 7}',
    '{"name": ["x"], "team": ["default"]}',
    '{"team": "", "name": ""}',
    '{"team": "../etc", "name": "x"}',
    '{"dataset_version": "1; DROP TABLE x", "model_name": "m"}',
    '{"dataset_version": 1e400, "model_name": "m", "hyperparameters": []}',
    '{"dataset_version": 1, "model_name": "m", "hyperparameters": {"epochs": "a lot"}}',
    '{"builtin": {"x": 1}}',
    '{"name": "\\u0000"}',
    '{"dataset_version": 1, "model_name": "m", "space": {"epochs": [1, {"x": 2}]}}',
    '{"dataset_version": 1, "model_name": "m", "space": {"": [1]}, "random": 1e400}',
    '{"dataset_version": 1, "model_name": "m", "space": [["epochs", 1]], "seed": {}}',
    '{"space": {"epochs": [1]}, "metric": ["val_loss"], "architecture": null}',
]


@pytest.fixture
def world(team):
    version = DatasetVersionFactory(dataset__team=team, dataset__name="digits")
    experiment = ExperimentFactory(team=team, name="baseline")
    ModelVersionFactory(model__team=team, model__name="digits", version=1)
    return version, experiment


def counts():
    return [
        m.objects.count()
        for m in (Dataset, DatasetVersion, Experiment, TrainingRun, Sweep, AliasEvent, Membership)
    ]


def post_everywhere(client, body: str, world, *, aliases: bool) -> None:
    version, experiment = world
    urls = [
        "/api/v1/datasets/",
        f"/api/v1/datasets/{version.dataset_id}/versions/",
        "/api/v1/experiments/",
        f"/api/v1/experiments/{experiment.pk}/runs/",
        "/api/v1/models/digits/predict/",
        "/api/v1/runs/999999/cancel/",
        "/api/v1/runs/999999/register/",
        f"/api/v1/experiments/{experiment.pk}/sweeps/",
        "/api/v1/sweeps/999999/cancel/",
        "/api/v1/sweeps/999999/register-best/",
    ]
    if aliases:  # an object without "alias" means production, and is valid there
        urls.append("/api/v1/models/digits/versions/1/aliases/")
    for url in urls:
        answer = client.generic("POST", url, data=body, content_type="application/json")
        assert 400 <= answer.status_code < 500, (url, answer.status_code, answer.content[:200])
        assert answer.json(), url


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_a_body_that_is_not_an_object_is_a_clear_4xx_everywhere(body, world, team):
    client = token_client(member(team, "approver"))
    before = counts()

    post_everywhere(client, body, world, aliases=True)

    assert counts() == before


@pytest.mark.parametrize("body", ODD_OBJECTS)
def test_fields_of_the_wrong_kind_are_a_clear_4xx_and_change_nothing(body, world, team):
    client = token_client(member(team, "approver"))
    before = counts()

    post_everywhere(client, body, world, aliases=False)

    assert counts() == before


@pytest.mark.parametrize(
    "body", ['{"alias": 5, "comment": []}', '{"alias": "Prod"}', '{"alias": "a\\u0000"}']
)
def test_an_odd_alias_is_a_clear_400_and_moves_nothing(body, world, team):
    answer = token_client(member(team, "approver")).generic(
        "POST",
        "/api/v1/models/digits/versions/1/aliases/",
        data=body,
        content_type="application/json",
    )

    assert answer.status_code == 400 and answer.json()
    assert not AliasEvent.objects.exists()


@pytest.mark.parametrize(
    "header",
    [
        "Token",
        "Token a b",
        "Token \u00e9t\u00e9",
        "Bearer",
        "Bearer x.y.z",
        "Basic Zm9vOmJhcg==",
        "Token " + "a" * 5000,
    ],
)
def test_odd_credentials_are_a_401_and_leave_no_trace(client, header):
    answer = client.get("/api/v1/datasets/", HTTP_AUTHORIZATION=header.encode().decode("latin-1"))

    assert answer.status_code == 401
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "?team=",
        "?team=%00",
        "?team[]=a",
        "?version=-1",
        "?version=1e3",
        "?alias=",
        "?alias=%0A",
        "?team=default&team=other",
    ],
)
def test_odd_query_parameters_on_the_predict_path_are_a_clear_4xx(query, world, api_client):
    answer = api_client.post(
        f"/api/v1/models/digits/predict/{query}", {"instances": [[0.0] * 4]}, format="json"
    )

    assert 400 <= answer.status_code < 500, answer.content[:200]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/datasets/?search=%00",
        "/api/v1/runs/?model_name=a%00b",
        "/admin/datasets/dataset/?q=%00",
        "/api/v1/runs/?status=NOPE",
        "/api/v1/runs/?experiment=abc",
        "/api/v1/dataset-versions/?dataset=1.5",
        "/api/v1/audit/?since=yesterday",
        "/api/v1/datasets/?ordering=team__slug,-nonexistent",
        "/api/v1/models/%20/",
        "/api/v1/teams/%00/",
    ],
)
def test_odd_filters_and_names_are_a_clear_4xx_or_an_empty_page(url, admin_user):
    answer = token_client(admin_user).get(url)

    assert answer.status_code in (200, 400, 404), answer.content[:200]
