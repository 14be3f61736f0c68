import warnings

import pytest
from django.core.paginator import UnorderedObjectListWarning
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from models_registry import services
from models_registry.models import AliasEvent, ModelAlias

MODELS = "/api/v1/models/"


def test_the_model_list_shows_counts_and_aliases(api_client, v2, register):
    register("iris")
    services.model_alias_set(model_version=v2, alias="production")

    response = api_client.get(MODELS)

    assert response.status_code == 200
    rows = [(m["name"], m["version_count"], m["latest_version"]) for m in response.data["results"]]
    assert rows == [("digits", 2, 2), ("iris", 1, 1)]
    assert response.data["results"][0]["aliases"] == {"production": 2}
    assert response.data["results"][1]["aliases"] == {}


def test_the_model_list_is_paged_in_name_order(api_client, register):
    for name in ["zeta", "alpha", "mid"]:
        register(name)

    # An unordered list would make pages overlap or skip models; DRF warns about it.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnorderedObjectListWarning)
        response = api_client.get(MODELS)

    assert [m["name"] for m in response.data["results"]] == ["alpha", "mid", "zeta"]


def test_the_model_list_makes_the_same_queries_for_one_model_or_many(api_client, register):
    services.model_alias_set(model_version=register("m0"), alias="production")
    api_client.get(MODELS)  # the token's first use records when it was last used
    with CaptureQueriesContext(connection) as one:
        api_client.get(MODELS)
    for i in range(1, 5):
        services.model_alias_set(model_version=register(f"m{i}"), alias="production")
    api_client.get(MODELS)  # the token is read again once: the registrations expired it

    with CaptureQueriesContext(connection) as five:
        response = api_client.get(MODELS)

    assert response.data["count"] == 5
    assert len(five) == len(one)


def test_a_model_is_retrieved_by_name(api_client, v1):
    response = api_client.get(f"{MODELS}digits/")

    assert response.status_code == 200
    assert response.data["name"] == "digits" and response.data["version_count"] == 1


def test_the_versions_of_a_model_are_listed_newest_first(api_client, v2, register):
    register("iris")

    response = api_client.get(f"{MODELS}digits/versions/")

    assert response.status_code == 200
    assert [v["version"] for v in response.data["results"]] == [2, 1]
    assert {v["model"] for v in response.data["results"]} == {"digits"}


def test_a_version_shows_its_artifact_signature_and_aliases(api_client, v1, v2):
    services.model_alias_set(model_version=v1, alias="production")
    services.model_alias_set(model_version=v1, alias="canary")

    response = api_client.get(f"{MODELS}digits/versions/1/")

    assert response.status_code == 200
    assert response.data["version"] == 1 and response.data["model"] == "digits"
    assert response.data["aliases"] == ["canary", "production"]
    assert response.data["artifact"] == v1.artifact.name
    assert response.data["sha256"] == v1.sha256
    assert response.data["signature"]["input_shape"] == [4]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("nope/", None),
        ("nope/versions/", None),
        ("nope/versions/1/", "there is no model named 'nope'"),
        ("digits/versions/9/", "model 'digits' has no version 9"),
        ("digits/versions/9/lineage/", "model 'digits' has no version 9"),
        (f"digits/versions/{10**20}/", f"model 'digits' has no version {10**20}"),
        ("nope/alias-events/", None),
    ],
)
def test_an_unknown_model_or_version_is_404(path, message, api_client, v1):
    response = api_client.get(f"{MODELS}{path}")

    assert response.status_code == 404
    if message:
        assert response.data["detail"] == message


def test_posting_an_alias_answers_201_with_the_audit_row(api_client, user, v1, v2):
    services.model_alias_set(model_version=v1, alias="production")

    response = api_client.post(
        f"{MODELS}digits/versions/2/aliases/",
        {"alias": "production", "comment": "better accuracy"},
        format="json",
    )

    assert response.status_code == 201
    data = response.data
    assert data["model"] == "digits" and data["alias"] == "production"
    assert (data["from_version"], data["to_version"]) == (1, 2)
    assert data["user"] == "alice" and data["comment"] == "better accuracy"
    event = AliasEvent.objects.get(pk=data["id"])
    assert event.user == user and event.to_version == v2
    assert ModelAlias.objects.get(alias="production").version == v2


def test_an_alias_defaults_to_production(api_client, v1):
    response = api_client.post(f"{MODELS}digits/versions/1/aliases/", {}, format="json")

    assert response.status_code == 201
    assert response.data["alias"] == "production" and response.data["from_version"] is None


def test_posting_the_alias_it_already_has_answers_200_and_changes_nothing(api_client, v1):
    api_client.post(f"{MODELS}digits/versions/1/aliases/", {"alias": "staging"}, format="json")

    response = api_client.post(
        f"{MODELS}digits/versions/1/aliases/", {"alias": "staging"}, format="json"
    )

    assert response.status_code == 200
    assert response.data == {"detail": "staging already points at version 1"}
    assert AliasEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("Prod!", "invalid alias 'Prod!'"),
        ("1", "invalid alias '1'"),
        ("", "may not be blank"),
        ("a" * 65, "no more than 64 characters"),
    ],
)
def test_a_bad_alias_is_400_and_changes_nothing(alias, message, api_client, v1):
    response = api_client.post(
        f"{MODELS}digits/versions/1/aliases/", {"alias": alias}, format="json"
    )

    assert response.status_code == 400
    assert message in str(response.data["alias"])
    assert not ModelAlias.objects.exists() and not AliasEvent.objects.exists()


def test_an_alias_on_an_unknown_version_is_404_and_changes_nothing(api_client, v1):
    response = api_client.post(
        f"{MODELS}digits/versions/5/aliases/", {"alias": "production"}, format="json"
    )

    assert response.status_code == 404
    assert not ModelAlias.objects.exists() and not AliasEvent.objects.exists()


def test_the_lineage_endpoint_answers_the_lineage(api_client, v1):
    response = api_client.get(f"{MODELS}digits/versions/1/lineage/")

    assert response.status_code == 200
    assert response.data["model"] == "digits" and response.data["version"] == 1
    assert response.data["sha256"] == v1.sha256
    assert response.data["training_run"] is None and response.data["datasets"] == []


def test_the_alias_events_of_a_model_are_listed_newest_first(api_client, user, v1, v2, register):
    services.model_alias_set(model_version=v1, alias="production", comment="first")
    services.model_alias_set(model_version=v2, alias="production", user=user, comment="second")
    services.model_alias_set(model_version=register("iris"), alias="production")

    response = api_client.get(f"{MODELS}digits/alias-events/")

    assert response.status_code == 200
    rows = [
        (e["alias"], e["from_version"], e["to_version"], e["user"], e["comment"])
        for e in response.data["results"]
    ]
    assert rows == [
        ("production", 1, 2, "alice", "second"),
        ("production", None, 1, None, "first"),
    ]


@pytest.mark.parametrize(
    "path", ["", "digits/", "digits/versions/", "digits/versions/1/", "digits/alias-events/"]
)
def test_reads_need_credentials(path, v1):
    response = APIClient().get(f"{MODELS}{path}")

    assert response.status_code == 401


def test_setting_an_alias_needs_credentials_and_changes_nothing(v1):
    response = APIClient().post(
        f"{MODELS}digits/versions/1/aliases/", {"alias": "production"}, format="json"
    )

    assert response.status_code == 401
    assert not ModelAlias.objects.exists() and not AliasEvent.objects.exists()


def _chain(length: int):
    """A dataset version processed ``length - 1`` times: the newest one, with its parents."""
    from tests.factories import DatasetVersionFactory

    version = DatasetVersionFactory()
    for _ in range(length - 1):
        version = DatasetVersionFactory(dataset=version.dataset, parent=version)
    return version


def test_the_lineage_reads_the_dataset_chain_in_the_same_queries_however_long(api_client, register):
    register("short", dataset_version=_chain(2))
    register("long", dataset_version=_chain(7))
    api_client.get(f"{MODELS}short/versions/1/lineage/")  # the token's first use is recorded

    with CaptureQueriesContext(connection) as short:
        response = api_client.get(f"{MODELS}short/versions/1/lineage/")
    with CaptureQueriesContext(connection) as long:
        longer = api_client.get(f"{MODELS}long/versions/1/lineage/")

    assert len(response.data["datasets"]) == 2 and len(longer.data["datasets"]) == 7
    assert [d["id"] for d in longer.data["datasets"]] == sorted(
        (d["id"] for d in longer.data["datasets"]), reverse=True
    )
    assert len(long) == len(short)
