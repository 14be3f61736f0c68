from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiToken, AuditEvent, Membership, Team
from tests.factories import RegisteredModelFactory, TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def test_create_team_makes_a_team():
    assert run("create_team", "vision", "--display-name", "Computer vision") == [
        f"created team vision (id {Team.objects.get(slug='vision').pk})"
    ]
    assert Team.objects.get(slug="vision").name == "Computer vision"


@pytest.mark.parametrize("name", ["bad name", "default"])
def test_create_team_refuses_a_bad_or_taken_name(name, team):
    before = Team.objects.count()

    with pytest.raises(CommandError):
        run("create_team", name)

    assert Team.objects.count() == before


def test_add_member_creates_the_user_without_a_password_and_gives_the_role():
    TeamFactory(slug="vision")

    lines = run("add_member", "vision", "carol", "--role", "scientist")

    carol = get_user_model().objects.get(username="carol")
    assert lines == ["created user carol (no password)", "carol is now scientist in team vision"]
    assert not carol.has_usable_password()
    assert Membership.objects.get(user=carol).role == "scientist"


def test_add_member_changes_a_role_and_says_when_nothing_changed():
    team = TeamFactory(slug="vision")
    user = member(team, "viewer", username="dave")

    assert run("add_member", "vision", "dave", "--role", "approver") == [
        "dave is now approver in team vision"
    ]
    assert run("add_member", "vision", "dave", "--role", "approver") == [
        "dave already is approver in team vision"
    ]
    assert Membership.objects.get(user=user).role == "approver"


def test_add_member_removes_a_member():
    team = TeamFactory(slug="vision")
    member(team, "viewer", username="erin")

    assert run("add_member", "vision", "erin", "--remove") == ["removed erin from team vision"]
    assert not Membership.objects.exists()
    with pytest.raises(CommandError, match="not a member"):
        run("add_member", "vision", "erin", "--remove")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope", "frank", "--role", "viewer"), "there is no team 'nope'"),
        (("vision", "bad name!", "--role", "viewer"), "invalid username"),
    ],
)
def test_add_member_refuses_bad_input_and_changes_nothing(args, message):
    TeamFactory(slug="vision")

    with pytest.raises(CommandError, match=message):
        run("add_member", *args)

    assert not Membership.objects.exists()
    assert not get_user_model().objects.filter(username__in=["frank", "bad name!"]).exists()


def test_add_member_refuses_an_unknown_role():
    TeamFactory(slug="vision")

    with pytest.raises(CommandError):
        run("add_member", "vision", "gina", "--role", "owner")

    assert not get_user_model().objects.filter(username="gina").exists()


def test_create_api_token_prints_a_new_token_last_that_authenticates(team):
    user = member(team, "viewer", username="robot")

    lines = run("create_api_token", "robot", "--name", "ci")

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {lines[-1]}")
    assert api.get("/api/v1/datasets/").status_code == 200
    assert ApiToken.objects.get(user=user).name == "ci"
    assert lines[0].startswith("new API token hpml_") and "acts with all roles" in lines[0]


def test_create_api_token_no_longer_creates_users():
    with pytest.raises(CommandError, match="there is no user 'ghost'"):
        run("create_api_token", "ghost")

    assert not get_user_model().objects.filter(username="ghost").exists()
    assert not ApiToken.objects.exists()


def test_create_api_token_refuses_an_inactive_user():
    UserFactory(username="idle", is_active=False)

    with pytest.raises(CommandError, match="inactive"):
        run("create_api_token", "idle")

    assert not ApiToken.objects.exists()


def test_a_predict_only_token_names_its_models_with_their_team():
    team = TeamFactory(slug="vision")
    member(team, "predictor", username="svc")
    RegisteredModelFactory(team=team, name="digits")

    lines = run("create_api_token", "svc", "--predict-only", "digits,vision/other")

    assert "may only predict with vision/digits, vision/other" in lines[0]
    assert ApiToken.objects.get().predict_models == ["vision/digits", "vision/other"]


def test_a_predict_only_token_for_a_user_in_several_teams_needs_the_team():
    first, second = TeamFactory(slug="aa"), TeamFactory(slug="bb")
    user = member(first, "predictor", username="svc")
    Membership.objects.create(team=second, user=user, role="predictor")

    with pytest.raises(CommandError, match="2 teams"):
        run("create_api_token", "svc", "--predict-only", "digits")
    run("create_api_token", "svc", "--predict-only", "digits", "--team", "bb")

    assert ApiToken.objects.get().predict_models == ["bb/digits"]


def test_a_predict_only_token_for_a_team_the_user_is_not_in_is_refused():
    TeamFactory(slug="secret")
    member(TeamFactory(slug="mine"), "predictor", username="svc")

    with pytest.raises(CommandError, match="may not predict in a team 'secret'"):
        run("create_api_token", "svc", "--predict-only", "secret/digits")

    assert not ApiToken.objects.exists()


def test_rotate_revokes_the_other_tokens_of_the_user(team):
    member(team, "viewer", username="robot")
    first = run("create_api_token", "robot")[-1]

    lines = run("create_api_token", "robot", "--rotate")

    assert lines[0].startswith("revoked token hpml_")
    live = ApiToken.objects.filter(revoked_at__isnull=True)
    assert live.count() == 1 and first != lines[-1]
    assert AuditEvent.objects.filter(action="token.revoked").count() == 1


def test_a_refused_rotation_keeps_the_old_tokens(team):
    member(team, "viewer", username="robot")
    run("create_api_token", "robot")

    with pytest.raises(CommandError):
        run("create_api_token", "robot", "--rotate", "--predict-only", "nobody/x")

    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 1


def test_an_expiry_must_be_in_the_future(team):
    member(team, "viewer", username="robot")

    with pytest.raises(CommandError, match="at least 1"):
        run("create_api_token", "robot", "--expires-in-days", "0")
    run("create_api_token", "robot", "--expires-in-days", "30")

    assert ApiToken.objects.get().expires_at is not None
