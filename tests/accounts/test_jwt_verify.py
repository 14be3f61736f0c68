"""Bearer JWTs from the identity service: what is accepted and, above all, what is not.

No database: configurations are built directly and keys come from a local JWKS server.
"""

import base64
import datetime
import hashlib
import hmac
import json
import time
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from django.test import override_settings

from accounts.jwt import InvalidToken, JWTConfig, parse_roles, reset_clients, verify
from tests.accounts.jwks_server import JWKSServer, SigningKey, make_ec_key, make_rsa_key

ISSUER = "https://id.example.org"
AUDIENCE = "hpml-portal"


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return make_rsa_key("rsa-1")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return make_ec_key("ec-1")


@pytest.fixture(autouse=True)
def _fresh_clients():
    reset_clients()
    yield
    reset_clients()


@pytest.fixture
def jwks(rsa_key, ec_key):
    server = JWKSServer([rsa_key.public_jwk(), ec_key.public_jwk()])
    yield server
    server.close()


def jwks_config(server: JWKSServer, **changes) -> JWTConfig:
    config = JWTConfig(
        jwks_url=server.url,
        public_key="",
        issuer=ISSUER,
        audience=(AUDIENCE,),
        algorithms=("RS256", "ES256"),
    )
    return replace(config, **changes)


def pem_config(key: SigningKey, **changes) -> JWTConfig:
    config = JWTConfig(
        jwks_url="",
        public_key=key.public_pem(),
        issuer=ISSUER,
        audience=(AUDIENCE,),
        algorithms=("RS256", "ES256"),
    )
    return replace(config, **changes)


def claims(**changes) -> dict:
    now = int(time.time())
    values = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300}
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rejected(token: str, config: JWTConfig) -> str:
    with pytest.raises(InvalidToken) as caught:
        verify(token, config)
    return str(caught.value)


# Accepted tokens


def test_a_valid_rs256_token_from_the_jwks_is_accepted(jwks, rsa_key):
    assert verify(rsa_key.sign(claims()), jwks_config(jwks))["sub"] == "alice"


def test_a_valid_es256_token_from_the_jwks_is_accepted(jwks, ec_key):
    assert verify(ec_key.sign(claims()), jwks_config(jwks))["sub"] == "alice"


@pytest.mark.parametrize("which", ["rsa_key", "ec_key"])
def test_a_valid_token_is_accepted_with_a_configured_public_key(which, request):
    key = request.getfixturevalue(which)
    assert verify(key.sign(claims()), pem_config(key))["aud"] == AUDIENCE


def test_the_key_set_is_fetched_once_and_then_cached(jwks, rsa_key, ec_key):
    config = jwks_config(jwks)
    for _ in range(3):
        verify(rsa_key.sign(claims()), config)
        verify(ec_key.sign(claims()), config)
    assert jwks.requests == 1


def test_a_token_expired_within_the_leeway_is_accepted(jwks, rsa_key):
    verify(rsa_key.sign(claims(exp=int(time.time()) - 5)), jwks_config(jwks))


def test_the_username_can_come_from_another_claim(jwks, rsa_key):
    config = jwks_config(jwks, username_claim="preferred_username")
    token = rsa_key.sign(claims(sub="0b7d-uuid", preferred_username="bob@example.org"))
    assert verify(token, config)["preferred_username"] == "bob@example.org"


def test_a_username_of_150_characters_is_accepted(jwks, rsa_key):
    verify(rsa_key.sign(claims(sub="a" * 150)), jwks_config(jwks))


# Key rotation


def test_a_rotated_key_is_fetched_when_a_token_names_its_new_kid(jwks, rsa_key):
    config = jwks_config(jwks, jwks_cooldown_seconds=0)
    verify(rsa_key.sign(claims()), config)
    new_key = make_ec_key("ec-2")
    jwks.set_keys([new_key.public_jwk()])

    assert verify(new_key.sign(claims()), config)["sub"] == "alice"
    assert jwks.requests == 2


def test_it_rejects_a_kid_that_is_unknown_even_after_a_refresh(jwks):
    stranger = make_ec_key("nobody-knows-me")
    assert rejected(stranger.sign(claims()), jwks_config(jwks, jwks_cooldown_seconds=0)) == (
        "unknown signing key"
    )
    assert jwks.requests == 2  # the cached set, then one forced refresh


def test_unknown_kids_do_not_refetch_the_keys_during_the_cooldown(jwks, rsa_key):
    config = jwks_config(jwks, jwks_cooldown_seconds=60)
    verify(rsa_key.sign(claims()), config)
    for n in range(5):
        rejected(make_ec_key(f"random-{n}").sign(claims()), config)
    assert jwks.requests == 1


# Refused tokens


def test_it_rejects_an_expired_token(jwks, rsa_key):
    token = rsa_key.sign(claims(exp=int(time.time()) - 120))
    assert rejected(token, jwks_config(jwks)) == "token expired"


def test_it_rejects_a_token_that_is_not_yet_valid(jwks, rsa_key):
    token = rsa_key.sign(claims(nbf=int(time.time()) + 300))
    assert rejected(token, jwks_config(jwks)) == "token not yet valid"


def test_it_rejects_a_token_issued_in_the_future(jwks, rsa_key):
    token = rsa_key.sign(claims(iat=int(time.time()) + 300))
    assert rejected(token, jwks_config(jwks)) == "token not yet valid"


def test_it_rejects_a_wrong_issuer(jwks, rsa_key):
    token = rsa_key.sign(claims(iss="https://evil.example.org"))
    assert rejected(token, jwks_config(jwks)) == "wrong issuer"


def test_it_rejects_a_wrong_audience(jwks, rsa_key):
    token = rsa_key.sign(claims(aud=["another-service"]))
    assert rejected(token, jwks_config(jwks)) == "wrong audience"


@pytest.mark.parametrize("claim", ["exp", "iss", "aud"])
def test_it_rejects_a_token_missing_a_required_claim(jwks, rsa_key, claim):
    token = rsa_key.sign(claims(**{claim: None}))
    assert rejected(token, jwks_config(jwks)) == f"missing claim {claim}"


def test_it_rejects_a_tampered_payload(jwks, rsa_key):
    header, _, signature = rsa_key.sign(claims()).split(".")
    forged = f"{header}.{b64(claims(sub='root'))}.{signature}"
    assert rejected(forged, jwks_config(jwks)) == "bad signature"


def test_it_rejects_a_token_without_a_kid_when_using_the_jwks(jwks, rsa_key):
    token = rsa_key.sign(claims(), headers={"kid": None})
    assert rejected(token, jwks_config(jwks)) == "token has no key id"
    assert jwks.requests == 0


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c", "....", "eyJhbGciOi.x.y"])
def test_it_rejects_a_malformed_token(jwks, token):
    assert rejected(token, jwks_config(jwks)) == "malformed token"


@pytest.mark.parametrize("source", ["jwks", "pem"])
def test_it_rejects_alg_none(jwks, rsa_key, source):
    config = jwks_config(jwks) if source == "jwks" else pem_config(rsa_key)
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': rsa_key.kid})}.{b64(claims())}."
    assert "none" in rejected(token, config)
    assert jwks.requests == 0


@pytest.mark.parametrize("source", ["jwks", "pem"])
def test_it_rejects_hs256_signed_with_the_public_key_as_secret(jwks, rsa_key, source):
    config = jwks_config(jwks) if source == "jwks" else pem_config(rsa_key)
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': rsa_key.kid})}.{b64(claims())}"
    mac = hmac.new(rsa_key.public_pem().encode(), signing_input.encode(), hashlib.sha256)
    token = f"{signing_input}.{b64(mac.digest())}"
    assert "HS256" in rejected(token, config)
    assert jwks.requests == 0  # refused before any key lookup


@pytest.mark.parametrize("source", ["jwks", "pem"])
def test_it_rejects_an_ec_signed_token_presented_as_rs256(jwks, ec_key, source):
    config = jwks_config(jwks) if source == "jwks" else pem_config(ec_key)
    _, payload, signature = ec_key.sign(claims()).split(".")
    token = f"{b64({'alg': 'RS256', 'typ': 'JWT', 'kid': ec_key.kid})}.{payload}.{signature}"
    assert "algorithm" in rejected(token, config)


def test_it_rejects_an_ec_token_under_the_kid_of_an_rsa_key(jwks, rsa_key, ec_key):
    token = ec_key.sign(claims(), headers={"kid": rsa_key.kid})
    rejected(token, jwks_config(jwks))


def test_it_rejects_a_token_signed_by_another_key_with_the_same_kid(jwks):
    impostor = make_ec_key("ec-1")
    assert rejected(impostor.sign(claims()), jwks_config(jwks)) == "bad signature"


@pytest.mark.parametrize("username", [None, "", "a" * 200, "al ice", "al/ice", "alice\n", 42])
def test_it_rejects_an_invalid_username_claim(jwks, rsa_key, username):
    config = jwks_config(jwks, username_claim="preferred_username")
    token = rsa_key.sign(claims(preferred_username=username))
    assert rejected(token, config) == "invalid username claim"


def test_it_says_the_keys_cannot_be_fetched_without_naming_the_url(rsa_key):
    server = JWKSServer([rsa_key.public_jwk()])
    config = jwks_config(server)
    server.close()
    message = rejected(rsa_key.sign(claims()), config)
    assert message == "the identity service's keys cannot be fetched"
    assert "127.0.0.1" not in message


# Configuration


def self_signed_certificate(key: SigningKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "id.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.private_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key.private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def test_a_sound_configuration_passes_the_check(jwks, rsa_key):
    jwks_config(jwks).check()
    pem_config(rsa_key).check()
    pem_config(rsa_key, algorithms=("PS256",)).check()


def test_a_certificate_can_be_configured_as_the_public_key(ec_key):
    config = replace(pem_config(ec_key), public_key=self_signed_certificate(ec_key))
    config.check()
    assert verify(ec_key.sign(claims()), config)["sub"] == "alice"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"algorithms": ("HS256",)}, "not allowed"),
        ({"algorithms": ("RS256", "none")}, "not allowed"),
        ({"algorithms": ()}, "JWT_ALGORITHMS"),
        ({"public_key": "-----BEGIN PUBLIC KEY-----"}, "exactly one"),
        ({"jwks_url": ""}, "exactly one"),
        ({"jwks_url": "file:///etc/passwd"}, r"http\(s\) URL"),
        ({"issuer": ""}, "JWT_ISSUER"),
        ({"audience": ()}, "JWT_AUDIENCE"),
        ({"jwks_cache_seconds": 0}, "cache"),
    ],
)
def test_check_refuses_a_jwks_configuration_that_must_not_run(jwks, changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        jwks_config(jwks, **changes).check()


@pytest.mark.parametrize(
    ("public_key", "algorithms", "fragment"),
    [
        ("not a key", ("RS256",), "not a PEM public key"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", ("RS256",), "PEM"),
        (None, ("ES256",), "cannot verify"),
    ],
)
def test_check_refuses_a_public_key_it_cannot_use(rsa_key, public_key, algorithms, fragment):
    config = pem_config(rsa_key, algorithms=algorithms)
    if public_key is not None:
        config = replace(config, public_key=public_key)
    with pytest.raises(ValueError, match=fragment):
        config.check()


def test_from_settings_is_none_when_jwt_is_off():
    with override_settings(JWT_JWKS_URL="", JWT_PUBLIC_KEY=""):
        assert JWTConfig.from_settings() is None


def test_from_settings_reads_and_checks_the_configuration(jwks):
    with override_settings(
        JWT_JWKS_URL=jwks.url,
        JWT_PUBLIC_KEY="",
        JWT_ISSUER=ISSUER,
        JWT_AUDIENCE=[AUDIENCE],
        JWT_ALGORITHMS=["RS256"],
        JWT_LEEWAY=5,
    ):
        config = JWTConfig.from_settings()
        assert config == jwks_config(jwks, algorithms=("RS256",), leeway=5)
        with override_settings(JWT_ALGORITHMS=["HS256"]), pytest.raises(ValueError):
            JWTConfig.from_settings()


# Roles


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["ml:scientist", "ops:viewer"], {"ml": "scientist", "ops": "viewer"}),
        (["ml:viewer", "ml:approver", "ml:scientist"], {"ml": "approver"}),
        (["ml:predictor", "ml:viewer"], {"ml": "viewer"}),
        (["ml:viewer", "ml:predictor"], {"ml": "viewer"}),
        (["ml:predictor"], {"ml": "predictor"}),
        ([42, None, ["ml:viewer"], "ml", ":viewer", "ml:", "m l:viewer", "ml/x:viewer"], {}),
        (["ml:admin", "ml:Viewer", "ml:viewer:extra", "ml_2:approver"], {"ml_2": "approver"}),
        ("ml:viewer", {}),
        ({"ml": "viewer"}, {}),
        (None, {}),
    ],
)
def test_parse_roles(value, expected):
    assert parse_roles(value) == expected
