"""Verification of bearer JWTs issued by the organisation's identity service.

Only verification lives here: no models, no DRF. Keys come either from the service's JWKS
endpoint (rotation is picked up by re-fetching the set when a token names an unknown ``kid``)
or from one configured PEM public key. Only asymmetric algorithms are ever accepted, so a
public key can never double as an HMAC secret and ``alg: none`` never gets through.
"""

import functools
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key


class InvalidToken(Exception):
    """The token cannot be accepted; str(exc) is a short reason that is safe to show the caller
    (never key material, never the token)."""


ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
# Django's own rule for usernames (UnicodeUsernameValidator) and its max_length.
_USERNAME = re.compile(r"[\w.@+-]{1,150}")
_TEAM_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
# Higher wins when a team is listed twice; predictor is the least, kept only when alone.
_ROLE_RANK = {"predictor": 0, "viewer": 1, "scientist": 2, "approver": 3}


@dataclass(frozen=True)
class JWTConfig:
    jwks_url: str  # "" when a public key is configured instead
    public_key: str  # PEM text, "" when a JWKS URL is configured
    issuer: str
    audience: tuple[str, ...]
    algorithms: tuple[str, ...]
    username_claim: str = "sub"
    roles_claim: str = "hpml_roles"
    leeway: int = 30  # seconds of clock skew allowed on exp/nbf/iat
    jwks_cache_seconds: int = 300
    jwks_cooldown_seconds: float = 10  # min seconds between forced refreshes on an unknown kid
    jwks_timeout: float = 5

    @classmethod
    def from_settings(cls) -> "JWTConfig | None":
        """None when JWT is off (JWT_JWKS_URL and JWT_PUBLIC_KEY both empty). A configuration
        that is on is checked here, so a misconfigured service fails loudly instead of
        accepting the wrong tokens."""
        from django.conf import settings

        jwks_url = getattr(settings, "JWT_JWKS_URL", "") or ""
        public_key = getattr(settings, "JWT_PUBLIC_KEY", "") or ""
        if not jwks_url and not public_key:
            return None
        config = cls(
            jwks_url=jwks_url,
            public_key=public_key,
            issuer=getattr(settings, "JWT_ISSUER", "") or "",
            audience=_as_tuple(getattr(settings, "JWT_AUDIENCE", ())),
            algorithms=_as_tuple(getattr(settings, "JWT_ALGORITHMS", ())),
            username_claim=getattr(settings, "JWT_USERNAME_CLAIM", "sub"),
            roles_claim=getattr(settings, "JWT_ROLES_CLAIM", "hpml_roles"),
            leeway=getattr(settings, "JWT_LEEWAY", 30),
            jwks_cache_seconds=getattr(settings, "JWT_JWKS_CACHE_SECONDS", 300),
            jwks_cooldown_seconds=getattr(settings, "JWT_JWKS_COOLDOWN_SECONDS", 10),
            jwks_timeout=getattr(settings, "JWT_JWKS_TIMEOUT", 5),
        )
        config.check()
        return config

    def check(self) -> None:
        """Raise ValueError for a configuration that must not run: anything that could let a
        token through without an asymmetric signature made by the identity service."""
        if bool(self.jwks_url) == bool(self.public_key):
            raise ValueError("JWT: configure exactly one of JWT_JWKS_URL and JWT_PUBLIC_KEY")
        if not self.issuer:
            raise ValueError("JWT: JWT_ISSUER must be set")
        if not self.audience or not all(self.audience):
            raise ValueError("JWT: JWT_AUDIENCE must list at least one non-empty audience")
        if min(self.leeway, self.jwks_cooldown_seconds) < 0 or (
            min(self.jwks_cache_seconds, self.jwks_timeout) <= 0
        ):
            raise ValueError("JWT: leeway and cooldown must be >= 0, cache and timeout > 0")
        if not self.algorithms:
            raise ValueError("JWT: JWT_ALGORITHMS must list at least one algorithm")
        refused = sorted(set(self.algorithms) - ASYMMETRIC_ALGORITHMS)
        if refused:
            raise ValueError(
                f"JWT: algorithms {refused} are not allowed; use only "
                f"{sorted(ASYMMETRIC_ALGORITHMS)}"
            )
        if self.jwks_url:
            url = urlparse(self.jwks_url)
            if url.scheme not in ("http", "https") or not url.netloc:
                raise ValueError("JWT: JWT_JWKS_URL must be an http(s) URL")
        else:
            try:
                usable = _key_algorithms(_load_public_key(self.public_key))
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                raise ValueError(
                    "JWT: JWT_PUBLIC_KEY is not a PEM public key or certificate"
                ) from exc
            if not usable & set(self.algorithms):
                raise ValueError("JWT: JWT_PUBLIC_KEY cannot verify any of JWT_ALGORITHMS")


def verify(token: str, config: JWTConfig) -> dict[str, Any]:
    """Check signature, algorithm, issuer, audience, exp (required), nbf and iat (when present)
    and the username claim; return the claims. Raise InvalidToken otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, TypeError, ValueError):
        raise InvalidToken("malformed token") from None
    alg = header.get("alg")
    # Refused before any key lookup, so `none` or HS256 never even reach the JWKS endpoint.
    if not isinstance(alg, str) or alg not in config.algorithms:
        # Echo the name only when it looks like one: the header is the caller's free text.
        shown = alg if isinstance(alg, str) and re.fullmatch(r"[A-Za-z0-9]{1,16}", alg) else "?"
        raise InvalidToken(f"algorithm {shown} is not accepted")
    key = _jwks_key(token, header, config) if config.jwks_url else _pem_key(alg, config)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=list(config.algorithms),
            audience=list(config.audience),
            issuer=config.issuer,
            leeway=config.leeway,
            options={"require": ["exp", "iss", "aud"], "verify_signature": True},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(_reason(exc)) from None
    except (TypeError, ValueError):
        # PyJWT raises these for a key of the wrong type for the algorithm.
        raise InvalidToken("the token's algorithm does not match the signing key") from None
    username = claims.get(config.username_claim)
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidToken("invalid username claim")
    return claims


def parse_roles(value: object) -> dict[str, str]:
    """The roles claim: ["team:role", ...] -> {team_slug: role}. Entries that cannot be read are
    skipped rather than failing the token: one bad entry must not lock a user out of the rest."""
    if not isinstance(value, list):
        return {}
    roles: dict[str, str] = {}
    for entry in value:
        if not isinstance(entry, str):
            continue
        team, _, role = entry.partition(":")
        if not _TEAM_SLUG.fullmatch(team) or role not in _ROLE_RANK:
            continue
        if team not in roles or _ROLE_RANK[role] > _ROLE_RANK[roles[team]]:
            roles[team] = role
    return roles


def reset_clients() -> None:
    """Forget the JWKS clients and loaded keys, so that tests start from a cold process."""
    with _clients_lock:
        _clients.clear()
    _load_public_key.cache_clear()


# One client per endpoint and settings per process: its cached key set and refresh cooldown
# only protect the identity service if every request shares them.
_clients: dict[tuple[str, int, float, float], jwt.PyJWKClient] = {}
_clients_lock = threading.Lock()


def _client(config: JWTConfig) -> jwt.PyJWKClient:
    key = (
        config.jwks_url,
        config.jwks_cache_seconds,
        config.jwks_cooldown_seconds,
        config.jwks_timeout,
    )
    with _clients_lock:
        if key not in _clients:
            _clients[key] = jwt.PyJWKClient(
                config.jwks_url,
                cache_jwk_set=True,
                lifespan=config.jwks_cache_seconds,
                cooldown_duration=config.jwks_cooldown_seconds,
                timeout=config.jwks_timeout,
            )
        return _clients[key]


def _jwks_key(token: str, header: dict[str, Any], config: JWTConfig) -> jwt.PyJWK:
    """The JWK named by the token's kid. The PyJWK itself goes to decode, so PyJWT also holds
    the header's alg to the key's own algorithm."""
    if not header.get("kid"):
        raise InvalidToken("token has no key id")
    try:
        return _client(config).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError:
        # The reason from PyJWT names the URL; the caller has no business knowing it.
        raise InvalidToken("the identity service's keys cannot be fetched") from None
    except jwt.PyJWKClientError:
        raise InvalidToken("unknown signing key") from None
    except (jwt.PyJWTError, ValueError):
        raise InvalidToken("the identity service's keys cannot be read") from None


def _pem_key(alg: str, config: JWTConfig) -> Any:
    key = _load_public_key(config.public_key)
    # Checked here rather than left to PyJWT, whose errors for this case are plain TypeErrors.
    if alg not in _key_algorithms(key):
        raise InvalidToken("the token's algorithm does not match the signing key")
    return key


@functools.lru_cache(maxsize=8)
def _load_public_key(pem: str) -> Any:
    data = pem.strip().encode()
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return load_pem_public_key(data)


def _key_algorithms(key: object) -> frozenset[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _EC_ALGORITHMS:
        return frozenset({_EC_ALGORITHMS[key.curve.name]})
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return frozenset({"EdDSA"})
    return frozenset()


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing claim {exc.claim}"
    reasons: list[tuple[type[Exception], str]] = [
        (jwt.ExpiredSignatureError, "token expired"),
        (jwt.ImmatureSignatureError, "token not yet valid"),
        (jwt.InvalidIssuerError, "wrong issuer"),
        (jwt.InvalidAudienceError, "wrong audience"),
        (jwt.InvalidSignatureError, "bad signature"),
        (jwt.DecodeError, "malformed token"),
        (jwt.InvalidAlgorithmError, "the token's algorithm does not match the signing key"),
    ]
    return next((text for kind, text in reasons if isinstance(exc, kind)), "invalid token")


def _as_tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Settings may hold a list or, read from the environment, one comma-separated string."""
    items = value.split(",") if isinstance(value, str) else value or ()
    return tuple(text for item in items if (text := str(item).strip()))
