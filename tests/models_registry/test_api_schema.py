"""What the registry API's schema promises, and the API keeping to it (found by the fuzz)."""

import pytest

from tests.openapi import component, parameter, request_schema

COMPARE = "/api/v1/models/digits/versions/compare/"


def test_who_archived_a_version_or_moved_an_alias_may_be_null_by_the_schema():
    assert component("ModelVersion")["properties"]["archived_by"]["nullable"] is True
    assert component("AliasEvent")["properties"]["user"]["nullable"] is True


@pytest.mark.django_db
def test_an_alias_set_by_a_command_answers_a_null_user(api_client, v1):
    from models_registry.services import model_alias_set

    model_alias_set(model_version=v1, alias="staging")
    events = api_client.get("/api/v1/models/digits/alias-events/").json()["results"]
    version = api_client.get("/api/v1/models/digits/versions/1/").json()

    assert events[0]["user"] is None and version["archived_by"] is None


def test_the_alias_rule_is_in_the_schema():
    alias = request_schema(
        "/api/v1/models/{model_name}/versions/{version_version}/aliases/", "POST"
    )["properties"]["alias"]

    assert alias["pattern"] == "^[a-z][a-z0-9_-]{0,63}$" and alias["maxLength"] == 64


def test_compared_versions_are_2_to_10_distinct_numbers_by_the_schema():
    versions = parameter("/api/v1/models/{model_name}/versions/compare/", "GET", "versions")

    assert versions["style"] == "form" and versions["explode"] is False
    assert versions["schema"]["uniqueItems"] is True
    assert (versions["schema"]["minItems"], versions["schema"]["maxItems"]) == (2, 10)
    assert versions["schema"]["items"]["minimum"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "versions, message",
    [
        ("2,1,2", "compare 2 to 10 distinct versions"),
        ("0,1", "version numbers run from 1"),
        ("1," + "9" * 12, "comma-separated"),
        ("1,99999999999", "comma-separated"),
        ("1,4294967296", "version numbers run from 1"),
    ],
)
def test_compared_versions_out_of_the_schema_are_400(versions, message, api_client, v2):
    answer = api_client.get(f"{COMPARE}?versions={versions}")

    assert answer.status_code == 400 and message in answer.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("tail", ["", "lineage/", "stats/"])
def test_a_version_number_past_any_column_is_404_not_an_error(tail, api_client, v1):
    answer = api_client.get(f"/api/v1/models/digits/versions/{'9' * 30}/{tail}")

    assert answer.status_code == 404 and "has no version" in answer.json()["detail"]


@pytest.mark.django_db
def test_an_alias_on_a_version_number_past_any_column_is_404(api_client, v1):
    url = f"/api/v1/models/digits/versions/{'9' * 30}/aliases/"

    answer = api_client.post(url, {"alias": "staging"}, format="json")

    assert answer.status_code == 404


@pytest.mark.django_db
def test_an_alias_is_set_from_json_only(api_client, v1):
    url = "/api/v1/models/digits/versions/1/aliases/"

    form = api_client.post(url, {"alias": "staging"})
    not_an_object = api_client.post(url, -7097, format="json")
    number = api_client.post(url, {"alias": 7}, format="json")

    assert form.status_code == 415
    assert not_an_object.status_code == 400 and number.status_code == 400
    assert not v1.aliases.exists()


@pytest.mark.django_db
def test_archiving_takes_json_or_no_body(api_client, v1):
    base = "/api/v1/models/digits/versions/1/"

    assert api_client.post(f"{base}archive/", {"comment": "old"}).status_code == 415
    assert api_client.post(f"{base}archive/").status_code == 200
    assert api_client.post(f"{base}restore/", {"comment": "back"}, format="json").status_code == 200
