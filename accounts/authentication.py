"""API authentication: hashed API tokens (``Token <key>``) and bearer JWTs from the
organisation's identity service (``Bearer <jwt>``). Sessions come from DRF itself."""

import contextlib
import hashlib
import time
from functools import lru_cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed

from hpml_portal.ttl_cache import TTLCache

from . import access, jwt, services
from .models import AuditEvent


def _credentials(request, keyword: bytes) -> str | None:
    parts = authentication.get_authorization_header(request).split()
    if not parts or parts[0].lower() != keyword:
        return None
    if len(parts) != 2:
        raise AuthenticationFailed(f"send 'Authorization: {keyword.decode().title()} <value>'")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise AuthenticationFailed("the credentials hold characters that are not ASCII") from None


_tokens = TTLCache("tokens")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>``; ``request.auth`` is the ApiToken.

    Answered from this process's memory for SERVE_CACHE_SECONDS: the token, its user and the
    user's roles are read once per key in that time (keys that match no live token too). A
    revocation, a deactivation or a role change made elsewhere is seen within that delay; one
    made in this process at once. An expiry date is checked on every request."""

    def authenticate(self, request):
        key = _credentials(request, b"token")
        if key is None:
            return None
        digest = hashlib.sha256(key.encode()).digest()
        token, fresh = _tokens.lookup(digest)
        if not fresh:
            token = services.api_token_authenticate(key)
            if token is not None:
                access.roles(token.user)  # read now: kept with the user for as long
            _tokens.put(digest, token, settings.SERVE_CACHE_SECONDS)
        expired = (
            token is not None
            and token.expires_at is not None
            and (token.expires_at <= timezone.now())
        )
        if token is None or expired or not token.user.is_active:
            raise AuthenticationFailed("invalid, expired or revoked token")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return "Token"


_JWT_SETTINGS = (
    "JWT_JWKS_URL",
    "JWT_PUBLIC_KEY",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_ALGORITHMS",
    "JWT_USERNAME_CLAIM",
    "JWT_ROLES_CLAIM",
    "JWT_LEEWAY",
    "JWT_JWKS_CACHE_SECONDS",
    "JWT_JWKS_COOLDOWN_SECONDS",
    "JWT_JWKS_TIMEOUT",
)


@lru_cache(maxsize=4)
def _config(*values: str) -> jwt.JWTConfig | None:
    return jwt.JWTConfig.from_settings()  # checked there: a bad one raises


def jwt_config() -> jwt.JWTConfig | None:
    """The JWT settings, read and checked once per distinct configuration."""
    return _config(*(repr(getattr(settings, name, "")) for name in _JWT_SETTINGS))


_bearers = TTLCache("bearer tokens")


class JWTAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <jwt>`` signed by the identity service; ``request.auth`` is the
    claims. The username claim names the user and the roles claim sets their memberships,
    once per token (the first request that shows it). A verified token is kept in this
    process's memory for SERVE_CACHE_SECONDS (never past its expiry), as API tokens are."""

    def authenticate(self, request):
        token = _credentials(request, b"bearer")
        if token is None:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        known, fresh = _bearers.lookup(digest)
        config = jwt_config()
        if fresh and config is not None and _still_valid(known, config):
            return known
        user, claims = self._verify(token, request)
        access.roles(user)  # read now: kept with the user for as long
        _bearers.put(digest, (user, claims), settings.SERVE_CACHE_SECONDS)
        return user, claims

    def _verify(self, token: str, request):
        config = jwt_config()
        if config is None:
            raise AuthenticationFailed("bearer tokens are not accepted: JWT sign-on is off")
        try:
            claims = jwt.verify(token, config)
        except jwt.InvalidToken as exc:
            raise AuthenticationFailed(f"invalid bearer token: {exc}") from exc
        roles = claims.get(config.roles_claim, [])
        if not isinstance(roles, list):
            # Read as "no roles" it would take every membership away; refuse it instead.
            raise AuthenticationFailed(
                f"invalid bearer token: the {config.roles_claim} claim must be a list of "
                "'team:role' strings"
            )
        user = _user_for(claims[config.username_claim])
        _first_sight(token, claims, config, user, request)
        return user, claims

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


def _still_valid(known: tuple, config: jwt.JWTConfig) -> bool:
    user, claims = known
    return user.is_active and claims.get("exp", 0) + config.leeway > time.time()


def _user_for(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        if not settings.JWT_CREATE_USERS:
            raise AuthenticationFailed(f"there is no user {username!r} (JWT_CREATE_USERS is off)")
        user, _ = services.user_get_or_create(username=username)
    if not user.is_active:
        raise AuthenticationFailed("this user is inactive")
    if user.is_staff or user.is_superuser:
        # Staff accounts are local: an identity service must not be able to mint an admin.
        raise AuthenticationFailed("staff accounts sign in with a password, not a bearer token")
    return user


def _first_sight(token: str, claims: dict, config: jwt.JWTConfig, user, request) -> None:
    """Sync memberships from the roles claim and audit the sign-on, once per token."""
    key = "hpml:jwt-seen:" + hashlib.sha256(token.encode()).hexdigest()
    lifetime = int(claims["exp"] - time.time()) + config.leeway
    try:
        seen = not cache.add(key, 1, timeout=max(lifetime, 1))
    except Exception:  # the cache is down: apply the claim again (it writes only changes)
        seen = False
    if seen:
        return
    try:
        with transaction.atomic():
            skipped = []
            if config.roles_claim in claims:
                wanted = jwt.parse_roles(claims[config.roles_claim])
                skipped = services.membership_sync(user=user, wanted=wanted)
            services.audit_record(
                action=AuditEvent.Action.LOGIN_JWT,
                actor=user,
                target=user.get_username(),
                detail={"issuer": claims.get("iss", ""), "unknown_teams": skipped},
                ip=request.META.get("REMOTE_ADDR"),
            )
    except Exception:
        # Try again on the next request (unless the cache is down: then nothing was recorded).
        with contextlib.suppress(Exception):
            cache.delete(key)
        raise
