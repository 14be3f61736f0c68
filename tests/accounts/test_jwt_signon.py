"""Signing on with a bearer JWT from the identity service, through real API requests: who gets
in, with which memberships, what is audited, and that every bad token changes nothing.

Verification details (each reason, the configuration checks) are in test_jwt_verify.py.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.jwt import reset_clients
from accounts.models import AuditEvent, Membership, Team
from tests.accounts.jwks_server import JWKSServer, SigningKey, make_ec_key, make_rsa_key
from tests.factories import DatasetFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

ISSUER = "https://id.example.org"
AUDIENCE = "hpml-portal"
DATASETS = "/api/v1/datasets/"
TEAMS = "/api/v1/teams/"
MISSING = object()  # a claim left out of the token


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    """Made once: RSA key generation is the slow part of these tests."""
    return {
        "rsa-1": make_rsa_key("rsa-1"),
        "rsa-2": make_rsa_key("rsa-2"),
        "stranger": make_rsa_key("rsa-unpublished"),
        "impostor": make_rsa_key("rsa-1"),  # another key under rsa-1's kid
        "ec-1": make_ec_key("ec-1"),
    }


@dataclass
class IdentityService:
    server: JWKSServer
    key: SigningKey

    def sign(self, username="dana", roles=MISSING, key: SigningKey | None = None, **changes):
        return (key or self.key).sign(claims(username, roles, **changes))


def claims(username="dana", roles=MISSING, **changes) -> dict:
    now = int(time.time())
    values = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": username,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,  # every token is new to the first-sight cache
    }
    if roles is not MISSING:
        values["hpml_roles"] = roles
    values.update(changes)
    return values


@pytest.fixture
def idp(settings, keys):
    """The identity service: a JWKS endpoint publishing rsa-1, and the settings pointing at it."""
    reset_clients()
    server = JWKSServer([keys["rsa-1"].public_jwk()])
    settings.JWT_JWKS_URL = server.url
    settings.JWT_PUBLIC_KEY = ""
    settings.JWT_ISSUER = ISSUER
    settings.JWT_AUDIENCE = [AUDIENCE]
    settings.JWT_ALGORITHMS = ["RS256", "ES256"]
    settings.JWT_USERNAME_CLAIM = "sub"
    settings.JWT_ROLES_CLAIM = "hpml_roles"
    settings.JWT_CREATE_USERS = False
    settings.JWT_LEEWAY = 30
    settings.JWT_JWKS_CACHE_SECONDS = 300
    settings.JWT_JWKS_COOLDOWN_SECONDS = 0
    settings.JWT_JWKS_TIMEOUT = 5
    yield IdentityService(server, keys["rsa-1"])
    server.close()
    reset_clients()


@pytest.fixture
def ml(db) -> Team:
    return TeamFactory(slug="ml")


@pytest.fixture
def ops(db) -> Team:
    return TeamFactory(slug="ops")


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def roles_of(user) -> dict[str, str]:
    return dict(Membership.objects.filter(user=user).values_list("team__slug", "role"))


def membership_audit(user) -> list[tuple[str, str, dict]]:
    rows = AuditEvent.objects.filter(
        target=user.username, action__startswith="membership."
    ).order_by("id")
    return [(row.action, row.team.slug, row.detail) for row in rows]


def logins(user) -> int:
    return AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_JWT, actor=user).count()


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# Signing on


def test_a_valid_token_signs_in_an_existing_user_with_the_claimed_role(idp, ml, ops):
    dana = UserFactory(username="dana")
    mine = DatasetFactory(team=ml, description=f"ours-{uuid.uuid4().hex}")
    theirs = DatasetFactory(team=ops, description=f"theirs-{uuid.uuid4().hex}")
    client = bearer(idp.sign("dana", ["ml:scientist"]))

    listing = client.get(DATASETS)

    assert listing.status_code == 200, listing.content
    assert roles_of(dana) == {"ml": "scientist"}
    assert [d["id"] for d in listing.json()["results"]] == [mine.pk]
    assert mine.description in listing.content.decode()
    assert theirs.description not in listing.content.decode()
    teams = client.get(TEAMS)
    assert teams.status_code == 200
    assert [(t["slug"], t["role"]) for t in teams.json()["results"]] == [("ml", "scientist")]
    login = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_JWT)
    assert (login.actor, login.target, login.detail["issuer"]) == (dana, "dana", ISSUER)


def test_an_ec_key_in_the_jwks_works_as_well(idp, keys, ml):
    idp.server.set_keys([keys["rsa-1"].public_jwk(), keys["ec-1"].public_jwk()])
    dana = UserFactory(username="dana")

    answer = bearer(idp.sign("dana", ["ml:viewer"], key=keys["ec-1"])).get(TEAMS)

    assert answer.status_code == 200, answer.content
    assert roles_of(dana) == {"ml": "viewer"}


# Refused tokens: nothing happens


def alg_none(idp, keys) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": "rsa-1"}
    return f"{b64(header)}.{b64(claims('newcomer', ['ml:approver']))}."


def hs256_with_the_public_key(idp, keys) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    signing_input = f"{b64(header)}.{b64(claims('newcomer', ['ml:approver']))}"
    secret = keys["rsa-1"].public_pem().encode()
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tampered(idp, keys) -> str:
    header, _, signature = idp.sign("newcomer", ["ml:viewer"]).split(".")
    return f"{header}.{b64(claims('newcomer', ['ml:approver']))}.{signature}"


def unknown_kid_after_a_rotation(idp, keys) -> str:
    idp.server.set_keys([keys["rsa-2"].public_jwk()])
    return idp.sign("newcomer", ["ml:approver"], key=keys["stranger"])


BAD_TOKENS = {
    "expired": lambda idp, keys: idp.sign("newcomer", ["ml:approver"], exp=int(time.time()) - 600),
    "not-yet-valid": lambda idp, keys: idp.sign(
        "newcomer", ["ml:approver"], nbf=int(time.time()) + 600
    ),
    "wrong-issuer": lambda idp, keys: idp.sign(
        "newcomer", ["ml:approver"], iss="https://evil.example.org"
    ),
    "wrong-audience": lambda idp, keys: idp.sign("newcomer", ["ml:approver"], aud="other-app"),
    "unknown-kid-after-rotation": unknown_kid_after_a_rotation,
    "alg-none": alg_none,
    "hs256-with-the-public-key": hs256_with_the_public_key,
    "tampered-payload": tampered,
    "another-key-under-a-known-kid": lambda idp, keys: idp.sign(
        "newcomer", ["ml:approver"], key=keys["impostor"]
    ),
    "garbage": lambda idp, keys: "not-a-jwt",
    "no-token": lambda idp, keys: "",
    "invalid-username": lambda idp, keys: idp.sign("new comer!", ["ml:approver"]),
}


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_a_bad_token_answers_401_and_creates_nothing(idp, keys, ml, settings, case):
    settings.JWT_CREATE_USERS = True  # even so, no user may come out of a bad token
    users, memberships = get_user_model().objects.count(), Membership.objects.count()
    client = bearer(BAD_TOKENS[case](idp, keys))

    answer = client.get(DATASETS)

    assert answer.status_code == 401, answer.content
    assert "bearer" in answer.json()["detail"].lower()  # refused by the JWT sign-on itself
    assert get_user_model().objects.count() == users
    assert Membership.objects.count() == memberships
    assert not AuditEvent.objects.exists()


def test_a_rotated_key_is_picked_up_and_the_retired_one_refused(idp, keys, ml):
    UserFactory(username="dana")
    assert bearer(idp.sign("dana", ["ml:viewer"])).get(DATASETS).status_code == 200

    idp.server.set_keys([keys["rsa-2"].public_jwk()])
    new = bearer(idp.sign("dana", ["ml:viewer"], key=keys["rsa-2"])).get(DATASETS)
    assert new.status_code == 200, new.content
    assert idp.server.requests == 2  # the key set was fetched again for the new kid

    retired = bearer(idp.sign("dana", ["ml:viewer"])).get(DATASETS)
    assert retired.status_code == 401
    assert "unknown signing key" in retired.json()["detail"]


# Users made on first use


def test_an_unknown_user_is_refused_when_jwt_create_users_is_off(idp, ml):
    answer = bearer(idp.sign("newcomer", ["ml:viewer"])).get(DATASETS)

    assert answer.status_code == 401
    assert not get_user_model().objects.filter(username="newcomer").exists()
    assert not AuditEvent.objects.exists()


def test_an_unknown_user_is_made_on_first_use_when_jwt_create_users_is_on(idp, ml, settings):
    settings.JWT_CREATE_USERS = True

    answer = bearer(idp.sign("newcomer", ["ml:scientist"])).get(TEAMS)

    assert answer.status_code == 200, answer.content
    newcomer = get_user_model().objects.get(username="newcomer")
    assert not newcomer.has_usable_password()
    assert not (newcomer.is_staff or newcomer.is_superuser)
    assert roles_of(newcomer) == {"ml": "scientist"}
    assert [(t["slug"], t["role"]) for t in answer.json()["results"]] == [("ml", "scientist")]


# Memberships from the roles claim


def test_each_sign_on_sets_the_memberships_the_roles_claim_names(idp, ml, ops):
    dana = UserFactory(username="dana")

    def sign_on(**token) -> None:
        answer = bearer(idp.sign("dana", **token)).get(TEAMS)
        assert answer.status_code == 200, answer.content

    sign_on(roles=["ml:scientist"])
    assert roles_of(dana) == {"ml": "scientist"}
    sign_on(roles=["ml:viewer", "ops:approver"])
    assert roles_of(dana) == {"ml": "viewer", "ops": "approver"}
    sign_on()  # no roles claim: memberships stay as they are
    assert roles_of(dana) == {"ml": "viewer", "ops": "approver"}
    sign_on(roles=[])
    assert roles_of(dana) == {}

    assert membership_audit(dana) == [
        ("membership.added", "ml", {"role": "scientist", "via": "jwt"}),
        ("membership.changed", "ml", {"from": "scientist", "role": "viewer", "via": "jwt"}),
        ("membership.added", "ops", {"role": "approver", "via": "jwt"}),
        ("membership.removed", "ml", {"from": "viewer", "via": "jwt"}),
        ("membership.removed", "ops", {"from": "approver", "via": "jwt"}),
    ]
    assert logins(dana) == 4


@pytest.mark.parametrize("roles", ["ml:approver", {"ml": "approver"}, None, 3])
def test_a_roles_claim_that_is_not_a_list_is_refused_and_changes_nothing(idp, ml, ops, roles):
    dana = UserFactory(username="dana")
    Membership.objects.create(team=ml, user=dana, role="scientist")

    answer = bearer(idp.sign("dana", roles)).get(TEAMS)

    assert answer.status_code == 401 and "must be a list" in answer.json()["detail"]
    assert roles_of(dana) == {"ml": "scientist"}
    assert logins(dana) == 0


def test_teams_in_the_claim_that_do_not_exist_are_skipped(idp, ml):
    dana = UserFactory(username="dana")
    teams = set(Team.objects.values_list("slug", flat=True))

    answer = bearer(idp.sign("dana", ["ml:viewer", "ghost:approver"])).get(TEAMS)

    assert answer.status_code == 200, answer.content
    assert roles_of(dana) == {"ml": "viewer"}
    assert set(Team.objects.values_list("slug", flat=True)) == teams
    login = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_JWT)
    assert login.detail["unknown_teams"] == ["ghost"]


def test_a_token_is_applied_and_audited_once_however_often_it_is_used(idp, ml):
    dana = UserFactory(username="dana")
    client = bearer(idp.sign("dana", ["ml:scientist"]))

    assert client.get(DATASETS).status_code == 200
    Membership.objects.filter(user=dana).update(role="viewer")  # an operator's change
    assert client.get(DATASETS).status_code == 200
    assert client.get(TEAMS).status_code == 200

    assert roles_of(dana) == {"ml": "viewer"}  # not re-applied by the same token
    assert logins(dana) == 1
    assert len(membership_audit(dana)) == 1
    assert bearer(idp.sign("dana", ["ml:scientist"])).get(TEAMS).status_code == 200
    assert roles_of(dana) == {"ml": "scientist"}  # a new token is applied
    assert logins(dana) == 2


def test_a_verified_token_is_kept_for_a_moment_but_never_past_its_expiry(idp, ml, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    UserFactory(username="dana")
    settings.JWT_LEEWAY = 0
    settings.SERVE_CACHE_SECONDS = 60
    client = bearer(idp.sign("dana", ["ml:scientist"], exp=int(time.time()) + 2))
    assert client.get(DATASETS).status_code == 200

    with CaptureQueriesContext(connection) as queries:
        assert client.get(DATASETS).status_code == 200
    time.sleep(max(0.0, idp_exp(client) - time.time()) + 0.2)
    expired = client.get(DATASETS)

    assert not [q for q in queries.captured_queries if '"auth_user"' in q["sql"]]
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def idp_exp(client: APIClient) -> int:
    token = client._credentials["HTTP_AUTHORIZATION"].split()[1]
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]


# Accounts that may not sign on with a token


@pytest.mark.parametrize(
    "account",
    [{"is_staff": True}, {"is_superuser": True}, {"is_active": False}],
    ids=["staff", "superuser", "inactive"],
)
def test_staff_and_inactive_accounts_are_refused(idp, ml, account):
    dana = UserFactory(username="dana", **account)

    answer = bearer(idp.sign("dana", ["ml:approver"])).get(DATASETS)

    assert answer.status_code == 401
    assert roles_of(dana) == {}
    assert not AuditEvent.objects.exists()


def test_a_bearer_token_is_refused_when_jwt_is_off(settings, db):
    settings.JWT_JWKS_URL = ""
    settings.JWT_PUBLIC_KEY = ""
    UserFactory(username="dana")

    answer = bearer(make_ec_key("ec-off").sign(claims("dana"))).get(DATASETS)

    assert answer.status_code == 401
    assert "bearer tokens are not accepted" in answer.json()["detail"]


# Roles from a token are enforced like any other


def test_a_predictor_from_the_claim_may_not_read_a_dataset(idp, ml, ops):
    UserFactory(username="dana")
    ours, theirs = DatasetFactory(team=ml), DatasetFactory(team=ops)
    client = bearer(idp.sign("dana", ["ml:predictor"]))

    forbidden = client.get(f"{DATASETS}{ours.pk}/")
    hidden = client.get(f"{DATASETS}{theirs.pk}/")

    assert forbidden.status_code == 403
    assert "viewer" in forbidden.json()["detail"]
    assert hidden.status_code == 404
