"""What the datasets API's schema promises, and the API keeping to it (found by the fuzz)."""

import pytest

from tests.conftest import token_client
from tests.factories import DatasetFactory, member
from tests.openapi import parameter, request_schema, resolve


@pytest.mark.django_db
def test_a_dataset_name_the_team_already_uses_is_409(api_client):
    assert api_client.post("/api/v1/datasets/", {"name": "blobs"}, format="json").status_code == 201

    again = api_client.post("/api/v1/datasets/", {"name": "blobs"}, format="json")

    assert again.status_code == 409
    assert "already has a dataset named 'blobs'" in again.json()["detail"]


@pytest.mark.django_db
def test_a_team_that_is_not_yours_is_404_when_creating(api_client):
    answer = api_client.post("/api/v1/datasets/", {"name": "blobs", "team": "nope"}, format="json")

    assert answer.status_code == 404


@pytest.mark.django_db
def test_an_empty_team_in_a_form_is_refused_not_taken_for_none(api_client):
    answer = api_client.post("/api/v1/datasets/", {"name": "blobs", "team": ""})

    assert answer.status_code == 400 and "team" in answer.json()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["1.5", "2.5e+83", "0", "-3", "9" * 25])
def test_an_id_filter_takes_whole_numbers_from_1_only(value, api_client):
    answer = api_client.get(f"/api/v1/dataset-versions/?dataset={value}")

    assert answer.status_code == 400 and "dataset" in answer.json()


@pytest.mark.django_db
def test_an_id_filter_finds_by_id(team):
    dataset = DatasetFactory(team=team)
    client = token_client(member(team, "viewer"))

    answer = client.get(f"/api/v1/dataset-versions/?dataset={dataset.pk}")

    assert answer.status_code == 200 and answer.json()["count"] == 0


def test_id_filters_are_whole_numbers_from_1_in_the_schema():
    schema = parameter("/api/v1/dataset-versions/", "GET", "dataset")["schema"]

    assert schema["type"] == "integer" and schema["minimum"] == 1


def test_the_names_rules_are_in_the_schema():
    body = request_schema("/api/v1/datasets/", "POST")

    assert body["properties"]["name"]["pattern"] == "^[-a-zA-Z0-9_]+$"
    assert body["properties"]["name"]["maxLength"] == 100
    assert body["properties"]["team"]["pattern"] == "^[-a-zA-Z0-9_]+$"
    assert body["properties"]["team"]["maxLength"] == 50


def test_a_new_version_takes_exactly_one_source_by_the_schema():
    as_json = request_schema("/api/v1/datasets/{dataset_pk}/versions/", "POST")
    upload = request_schema(
        "/api/v1/datasets/{dataset_pk}/versions/", "POST", "multipart/form-data"
    )

    assert sorted(tuple(form["required"]) for form in as_json["oneOf"]) == [
        ("builtin",),
        ("sql",),
        ("url",),
    ]
    assert upload["required"] == ["file"]
    builtin = next(form for form in as_json["oneOf"] if form["required"] == ["builtin"])
    assert resolve(builtin["properties"]["builtin"]["allOf"][0])["enum"] == ["digits"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"name": 5}, {"name": "blobs", "description": 1.5}])
def test_a_number_for_a_name_or_description_is_400(body, api_client):
    answer = api_client.post("/api/v1/datasets/", body, format="json")

    assert answer.status_code == 400 and "Not a valid string." in answer.json()["detail"]
