"""DELETE /api/v1/models/{name}/aliases/{alias}/: an alias taken off its model, under audit."""

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from models_registry import services
from models_registry.models import AliasEvent, ModelAlias
from tests.conftest import token_client
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db

MODELS = "/api/v1/models/"


@pytest.fixture
def aliased(v1, v2):
    """digits: production on version 1, staging on version 2."""
    services.model_alias_set(model_version=v1, alias="production")
    services.model_alias_set(model_version=v2, alias="staging")
    return v1, v2


def unchanged(before: list) -> bool:
    return before == list(
        ModelAlias.objects.values_list("alias", "version__version").order_by("alias")
    )


def test_removing_an_alias_answers_the_audit_row_and_requests_for_it_are_refused(
    api_client, user, aliased, django_capture_on_commit_callbacks
):
    events = AliasEvent.objects.count()

    with django_capture_on_commit_callbacks() as mirrored:
        answer = api_client.delete(f"{MODELS}digits/aliases/staging/?comment=rolled%20back")

    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert (data["alias"], data["from_version"], data["to_version"]) == ("staging", 2, None)
    assert data["user"] == "alice" and data["comment"] == "rolled back"
    assert AliasEvent.objects.count() == events + 1
    assert list(ModelAlias.objects.values_list("alias", flat=True)) == ["production"]
    audit = AuditEvent.objects.filter(action="alias.moved").latest("pk")
    assert audit.target == "digits@staging" and audit.detail["to_version"] is None
    # After commit, MLflow's alias follows and the serving caches forget the old one.
    assert [c.__qualname__ for c in mirrored if "model_alias_delete" in c.__qualname__]
    refused = api_client.post(
        f"{MODELS}digits/predict/?alias=staging", {"instances": [[0, 0, 0, 0]]}, format="json"
    )
    assert refused.status_code == 409 and "staging" in refused.json()["detail"]
    history = api_client.get(f"{MODELS}digits/alias-events/").json()["results"]
    assert (history[0]["alias"], history[0]["to_version"]) == ("staging", None)


def test_a_comment_is_optional(api_client, aliased):
    answer = api_client.delete(f"{MODELS}digits/aliases/production/")

    assert answer.status_code == 200 and answer.json()["comment"] == ""
    assert not ModelAlias.objects.filter(alias="production").exists()


def test_an_alias_the_model_does_not_have_is_404_and_changes_nothing(api_client, aliased):
    before = list(ModelAlias.objects.values_list("alias", "version__version").order_by("alias"))
    events = AliasEvent.objects.count()

    answer = api_client.delete(f"{MODELS}digits/aliases/canary/")

    assert answer.status_code == 404
    assert answer.json() == {"detail": "model 'digits' has no alias 'canary'"}
    assert unchanged(before) and AliasEvent.objects.count() == events


def test_production_needs_an_approver_other_aliases_a_scientist(team, aliased):
    before = list(ModelAlias.objects.values_list("alias", "version__version").order_by("alias"))
    scientist = token_client(member(team, "scientist"))
    viewer = token_client(member(team, "viewer"))

    refused = scientist.delete(f"{MODELS}digits/aliases/production/")
    read_only = viewer.delete(f"{MODELS}digits/aliases/staging/")

    assert refused.status_code == 403 and "approver" in refused.json()["detail"]
    assert read_only.status_code == 403
    assert unchanged(before)
    assert scientist.delete(f"{MODELS}digits/aliases/staging/").status_code == 200


def test_another_teams_model_reads_as_missing_and_keeps_its_aliases(aliased):
    stranger = token_client(member(TeamFactory(), "approver"))
    before = list(ModelAlias.objects.values_list("alias", "version__version").order_by("alias"))

    answer = stranger.delete(f"{MODELS}digits/aliases/production/")

    assert answer.status_code == 404 and unchanged(before)
    assert APIClient().delete(f"{MODELS}digits/aliases/production/").status_code == 401
    assert unchanged(before)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("digits/aliases/staging/?comment=" + "x" * 2001, 400),
        ("digits/aliases/staging/?comment=%00", 400),
        ("digits/aliases/staging/?comment=a&comment=b&note=1", 400),
        ("digits/aliases/staging/?version=2", 400),
        ("digits/aliases/Staging/", 404),
        ("digits/aliases/" + "a" * 65 + "/", 404),
        ("digits/aliases/-x/", 404),
        ("nope/aliases/staging/", 404),
        ("digits/aliases/", 404),
    ],
)
def test_odd_requests_are_refused_in_json_and_change_nothing(path, status, api_client, aliased):
    before = list(ModelAlias.objects.values_list("alias", "version__version").order_by("alias"))
    events = AliasEvent.objects.count()

    answer = api_client.delete(f"{MODELS}{path}")

    assert answer.status_code == status, answer.content
    assert answer["Content-Type"].startswith("application/json") and answer.json()["detail"]
    assert unchanged(before) and AliasEvent.objects.count() == events


@pytest.mark.parametrize("method", ["get", "post", "put", "patch"])
def test_only_delete_is_answered(method, api_client, aliased):
    before = list(ModelAlias.objects.values_list("alias", "version__version").order_by("alias"))

    answer = getattr(api_client, method)(f"{MODELS}digits/aliases/staging/", {}, format="json")

    assert answer.status_code == 405 and unchanged(before)
