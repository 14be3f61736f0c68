"""The audit log: sign-ins, tokens, memberships and alias moves, read by staff only."""

import pytest

from accounts import services
from accounts.models import AuditEvent
from models_registry.services import model_alias_set
from tests.conftest import token_client
from tests.factories import ModelVersionFactory, TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db


def test_a_session_sign_in_and_a_failed_one_are_recorded(client, team):
    alice = member(team, "viewer", username="alice2")

    assert client.login(username="alice2", password="pw-test-123")
    assert not client.login(username="alice2", password="wrong")

    signed_in, failed = AuditEvent.objects.order_by("pk")
    assert (signed_in.action, signed_in.actor, signed_in.target) == ("login", alice, "alice2")
    assert (failed.action, failed.actor, failed.actor_name) == ("login.failed", None, "anonymous")
    assert failed.target == "alice2"


def test_an_alias_move_is_recorded_with_who_and_the_versions(team):
    approver = member(team, "approver", username="ann")
    first = ModelVersionFactory(model__team=team, model__name="digits", version=1)
    second = ModelVersionFactory(model=first.model, version=2)
    model_alias_set(model_version=first, alias="production", user=approver)

    model_alias_set(model_version=second, alias="production", user=approver, comment="better")

    event = AuditEvent.objects.filter(action="alias.moved").latest("pk")
    assert (event.actor, event.team, event.target) == (approver, team, "digits@production")
    assert event.detail == {"from_version": 1, "to_version": 2, "comment": "better"}


def test_a_refused_alias_move_changes_nothing_and_records_nothing(team):
    scientist = member(team, "scientist")
    version = ModelVersionFactory(model__team=team)

    with pytest.raises(Exception, match="approver"):
        model_alias_set(model_version=version, alias="production", user=scientist)

    assert not AuditEvent.objects.filter(action="alias.moved").exists()


def test_staff_read_the_audit_log_filtered_by_action_and_team(team):
    vision = TeamFactory(slug="vision")
    services.membership_set(team=vision, user=UserFactory(username="zed"), role="viewer")
    services.api_token_create(user=UserFactory())
    staff = token_client(UserFactory(is_staff=True, is_superuser=True))

    everything = staff.get("/api/v1/audit/").json()
    memberships = staff.get("/api/v1/audit/?action=membership.added&team=vision").json()
    bad = staff.get("/api/v1/audit/?action=nonsense")

    assert {e["action"] for e in everything["results"]} >= {"membership.added", "token.created"}
    assert [(e["target"], e["team"]) for e in memberships["results"]] == [("zed", "vision")]
    assert bad.status_code == 400


def test_people_who_are_not_staff_cannot_read_the_audit_log(team, api_client):
    answer = api_client.get("/api/v1/audit/")

    assert answer.status_code == 403


def test_the_audit_log_is_read_only_in_the_admin(client, admin_user):
    services.team_create(slug="vision")
    event = AuditEvent.objects.get()
    client.force_login(admin_user)

    page = client.get(f"/admin/accounts/auditevent/{event.pk}/change/")
    changed = client.post(f"/admin/accounts/auditevent/{event.pk}/change/", {"target": "rewritten"})

    assert page.status_code == 200 and b"vision" in page.content
    assert changed.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).target == "vision"


def test_staff_who_are_not_superusers_do_not_read_the_audit_log_of_every_team(client, team):
    staff = member(team, "viewer")
    staff.is_staff = True
    staff.save()
    services.team_create(slug="vision")
    client.force_login(staff)

    assert token_client(staff).get("/api/v1/audit/").status_code == 403
    assert client.get("/admin/accounts/auditevent/").status_code == 403


def test_renaming_a_team_is_recorded(admin_user):
    team = services.team_create(slug="vision", name="Vision")

    services.team_rename(team=team, name="Computer vision", actor=admin_user)
    services.team_rename(team=team, name="Computer vision", actor=admin_user)

    renamed = AuditEvent.objects.get(action="team.renamed")
    assert renamed.detail == {"from": "Vision", "to": "Computer vision"}
    assert renamed.actor == admin_user
