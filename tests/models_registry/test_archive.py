"""Archiving a version: kept with its history, never served, takes no alias."""

import json

import pytest

from accounts.access import AccessDenied
from accounts.models import AuditEvent
from models_registry import services
from models_registry.models import ModelVersion
from models_registry.selectors import VersionArchived, model_version_resolve
from tests.conftest import token_client
from tests.factories import member

pytestmark = pytest.mark.django_db


def test_an_archived_version_is_not_served_and_takes_no_alias(model_version, user):
    archived = services.model_version_archive(model_version=model_version, user=user, comment="old")

    assert archived.archived_at is not None and archived.archived_by == user
    with pytest.raises(VersionArchived, match="version 1 of model 'digits' is archived"):
        model_version_resolve(model_version.model, version=1)
    with pytest.raises(services.VersionIsArchived, match="restore it before"):
        services.model_alias_set(model_version=archived, alias="staging", user=user)
    event = AuditEvent.objects.get(action=AuditEvent.Action.VERSION_ARCHIVED)
    assert event.target == "digits v1" and event.detail == {"comment": "old"}


def test_a_restored_version_is_served_again(model_version, user):
    services.model_version_archive(model_version=model_version, user=user)

    restored = services.model_version_restore(model_version=model_version, user=user)

    assert restored.archived_at is None and restored.archived_by is None
    assert model_version_resolve(model_version.model, version=1).pk == model_version.pk
    assert services.model_alias_set(model_version=restored, alias="staging", user=user)


def test_a_version_an_alias_points_at_is_not_archived(model_version, user):
    services.model_alias_set(model_version=model_version, alias="production", user=user)

    with pytest.raises(services.VersionHoldsAliases, match="holds production: move those"):
        services.model_version_archive(model_version=model_version, user=user)

    model_version.refresh_from_db()
    assert model_version.archived_at is None
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VERSION_ARCHIVED).exists()


def test_archiving_twice_changes_nothing_the_second_time(model_version, user):
    first = services.model_version_archive(model_version=model_version, user=user)
    second = services.model_version_archive(model_version=model_version, user=user)

    assert second.archived_at == first.archived_at
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VERSION_ARCHIVED).count() == 1


def test_a_viewer_may_not_archive(model_version, team):
    viewer = member(team, "viewer")

    with pytest.raises(AccessDenied):
        services.model_version_archive(model_version=model_version, user=viewer)

    model_version.refresh_from_db()
    assert model_version.archived_at is None


def test_the_api_archives_restores_and_refuses_serving_an_archived_version(
    model_version, team, api_client
):
    base = "/api/v1/models/digits/versions/1/"

    archived = api_client.post(f"{base}archive/", {"comment": "superseded"}, format="json")
    predicted = api_client.post(
        "/api/v1/models/digits/predict/?version=1",
        json.dumps({"instances": [[0] * 64]}),
        content_type="application/json",
    )
    aliased = api_client.post(f"{base}aliases/", {"alias": "staging"}, format="json")
    restored = api_client.post(f"{base}restore/")
    bad = api_client.post(f"{base}archive/", {"comment": ["x"]}, format="json")

    assert archived.status_code == 200 and archived.json()["archived_at"]
    assert archived.json()["archived_by"] == "alice"
    assert predicted.status_code == 409 and "is archived" in predicted.json()["detail"]
    assert aliased.status_code == 409 and "is archived" in aliased.json()["detail"]
    assert restored.status_code == 200 and restored.json()["archived_at"] is None
    assert bad.status_code == 400
    assert ModelVersion.objects.get().archived_at is None
    viewer = token_client(member(team, "viewer")).post(f"{base}archive/")
    assert viewer.status_code == 403


def test_the_admin_archives_and_reports_what_it_refused(client, admin_user, model_version):
    client.force_login(admin_user)
    services.model_alias_set(model_version=model_version, alias="staging")
    spare = services.model_version_register(
        model_name="digits",
        artifact=services.Artifact(model_version.artifact.name, model_version.sha256, 1),
        signature=model_version.signature,
        metrics={},
    )

    answer = client.post(
        "/admin/models_registry/modelversion/",
        {"action": "archive_versions", "_selected_action": [model_version.pk, spare.pk]},
        follow=True,
    )

    page = answer.content.decode()
    assert "holds staging" in page and "igits v2 archived." in page
    assert ModelVersion.objects.get(pk=model_version.pk).archived_at is None
    assert ModelVersion.objects.get(pk=spare.pk).archived_at is not None


def test_a_version_whose_model_outputs_do_not_match_its_classes_is_not_registered(
    model_version,
):
    signature = {**model_version.signature, "outputs": 3}  # ten classes named

    with pytest.raises(services.RegistryError, match="gives 3 outputs but its signature names 10"):
        services.model_version_register(
            model_name="digits",
            artifact=services.Artifact(model_version.artifact.name, model_version.sha256, 1),
            signature=signature,
            metrics={},
        )

    assert ModelVersion.objects.count() == 1
