import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import access, selectors, services
from accounts.models import ApiToken, AuditEvent, Membership, Team
from hpml_portal.errors import Conflict
from tests.factories import TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db


# --- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", {"read", "predict"}),
        ("scientist", {"read", "predict", "write"}),
        ("approver", {"read", "predict", "write", "promote"}),
        ("predictor", {"predict"}),
    ],
)
def test_each_role_grants_its_capabilities_in_its_team_only(role, allowed):
    team, elsewhere = TeamFactory(), TeamFactory()
    user = member(team, role)

    granted = {c.value for c in access.Capability if access.can(user, team.pk, c)}

    assert granted == allowed
    assert not any(access.can(user, elsewhere.pk, c) for c in access.Capability)


def test_a_staff_superuser_and_the_operator_may_do_everything():
    team = TeamFactory()
    root = UserFactory(is_staff=True, is_superuser=True)

    assert all(access.can(root, team.pk, c) for c in access.Capability)
    assert all(access.can(None, team.pk, c) for c in access.Capability)
    assert access.team_ids(root) is None


def test_staff_without_superuser_has_only_the_roles_of_their_memberships():
    team = TeamFactory()
    staff = UserFactory(is_staff=True)

    assert not access.can(staff, team.pk, access.Capability.READ)


def test_an_inactive_user_has_no_role_anywhere():
    team = TeamFactory()
    user = member(team, "approver")
    user.is_active = False

    access.forget_roles(user)

    assert not access.can(user, team.pk, access.Capability.READ)


def test_a_refusal_names_the_missing_role_the_team_and_the_current_role():
    team = TeamFactory(slug="vision")
    user = member(team, "scientist")

    with pytest.raises(access.AccessDenied) as refused:
        access.require(user, team, access.Capability.PROMOTE, "move 'production'")

    assert str(refused.value) == (
        "you need the approver role in team 'vision' to move 'production' (you are scientist)"
    )
    assert refused.value.http_status == 403


# --- teams and memberships -----------------------------------------------------------------------


def test_the_operator_creates_a_team_with_an_audit_row():
    team = services.team_create(slug="vision", name="Vision")

    event = AuditEvent.objects.get(action="team.created")
    assert (team.slug, event.team, event.actor_name) == ("vision", team, "operator")


@pytest.mark.parametrize("slug", ["", "has space", "x/y", "a" * 51, "ünï"])
def test_it_rejects_an_invalid_team_name_and_creates_nothing(slug):
    before = Team.objects.count()

    with pytest.raises(services.AccountError):
        services.team_create(slug=slug)

    assert Team.objects.count() == before and not AuditEvent.objects.exists()


def test_a_taken_team_name_is_a_conflict():
    services.team_create(slug="vision")

    with pytest.raises(Conflict, match="already exists"):
        services.team_create(slug="vision")


def test_only_a_staff_superuser_creates_teams_or_changes_memberships():
    team = TeamFactory()
    approver = member(team, "approver")

    with pytest.raises(access.AccessDenied):
        services.team_create(slug="mine", actor=approver)
    with pytest.raises(access.AccessDenied):
        services.membership_set(team=team, user=UserFactory(), role="viewer", actor=approver)

    assert not Team.objects.filter(slug="mine").exists()
    assert Membership.objects.filter(team=team).count() == 1


def test_memberships_are_added_changed_and_removed_with_audit_rows():
    team, user = TeamFactory(), UserFactory(username="bob")

    services.membership_set(team=team, user=user, role="viewer")
    assert services.membership_set(team=team, user=user, role="viewer") is None
    services.membership_set(team=team, user=user, role="approver")
    assert services.membership_remove(team=team, user=user)
    assert not services.membership_remove(team=team, user=user)

    events = AuditEvent.objects.order_by("pk")
    assert [(e.action, e.target, e.detail) for e in events] == [
        ("membership.added", "bob", {"role": "viewer"}),
        ("membership.changed", "bob", {"from": "viewer", "role": "approver"}),
        ("membership.removed", "bob", {"from": "approver"}),
    ]
    assert not Membership.objects.exists()


def test_an_unknown_role_is_refused_and_changes_nothing():
    team, user = TeamFactory(), UserFactory()

    with pytest.raises(services.AccountError, match="unknown role 'owner'"):
        services.membership_set(team=team, user=user, role="owner")

    assert not Membership.objects.exists() and not AuditEvent.objects.exists()


def test_a_role_change_is_seen_by_the_same_user_object_at_once():
    team = TeamFactory()
    user = member(team, "viewer")
    assert not access.can(user, team.pk, access.Capability.WRITE)

    services.membership_set(team=team, user=user, role="scientist")

    assert access.can(user, team.pk, access.Capability.WRITE)


def test_a_new_object_goes_to_the_only_team_where_the_user_may_write():
    mine, read_only = TeamFactory(), TeamFactory()
    user = member(mine, "scientist")
    services.membership_set(team=read_only, user=user, role="viewer")

    assert selectors.team_for_create(user=user, slug=None) == mine


def test_a_user_in_several_teams_must_name_one():
    first, second = TeamFactory(slug="aa"), TeamFactory(slug="bb")
    user = member(first, "scientist")
    services.membership_set(team=second, user=user, role="scientist")

    with pytest.raises(services.InvalidRequest, match=r"several teams \(aa, bb\)"):
        selectors.team_for_create(user=user, slug=None)
    assert selectors.team_for_create(user=user, slug="bb") == second


def test_a_team_the_user_is_not_in_reads_as_missing():
    TeamFactory(slug="secret")
    user = member(TeamFactory(), "scientist")

    with pytest.raises(selectors.TeamNotFound):
        selectors.team_for_create(user=user, slug="secret")


# --- API tokens ----------------------------------------------------------------------------------


def test_only_the_hash_of_a_token_is_kept_and_the_key_authenticates():
    user = UserFactory()

    token, key = services.api_token_create(user=user, name="ci")

    assert key.startswith("hpml_") and len(key) > 40
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert services.api_token_authenticate(key) == token
    assert services.api_token_authenticate(key + "x") is None


def test_a_revoked_or_expired_token_no_longer_authenticates():
    user = UserFactory()
    revoked, revoked_key = services.api_token_create(user=user)
    expiring, expiring_key = services.api_token_create(
        user=user, expires_at=timezone.now() + timedelta(seconds=60)
    )

    assert services.api_token_revoke(token=revoked)
    assert not services.api_token_revoke(token=revoked)
    ApiToken.objects.filter(pk=expiring.pk).update(expires_at=timezone.now())

    assert services.api_token_authenticate(revoked_key) is None
    assert services.api_token_authenticate(expiring_key) is None
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["token.created", "token.created", "token.revoked"]


def test_a_predict_only_token_needs_a_predicting_role_in_each_named_team():
    team = TeamFactory(slug="vision")
    TeamFactory(slug="speech")  # it exists: the user's lack of a role there is the refusal
    user = member(team, "predictor")

    token, _ = services.api_token_create(user=user, predict_models=["vision/digits"])
    assert token.predict_only and token.predict_models == ["vision/digits"]

    for refused in (["speech/digits"], ["digits"], ["vision/"], ["vision/bad name"]):
        with pytest.raises(services.AccountError):
            services.api_token_create(user=user, predict_models=refused)
    assert ApiToken.objects.count() == 1
    assert Team.objects.filter(slug="speech").exists()


def test_people_make_and_revoke_their_own_tokens_only():
    team = TeamFactory()
    alice, bob = member(team, "scientist"), member(team, "scientist")
    token, _ = services.api_token_create(user=alice, actor=alice)

    with pytest.raises(access.AccessDenied):
        services.api_token_create(user=alice, actor=bob)
    with pytest.raises(services.NotFound):
        services.api_token_revoke(token=token, actor=bob)

    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_a_token_records_when_it_was_last_used_at_most_once_a_minute():
    token, key = services.api_token_create(user=UserFactory())

    services.api_token_authenticate(key)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    services.api_token_authenticate(key)

    assert first is not None and ApiToken.objects.get(pk=token.pk).last_used_at == first
