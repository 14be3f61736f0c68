"""Every write to teams, memberships and API tokens, each with its audit row."""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from hpml_portal import ttl_cache
from hpml_portal.errors import Conflict, InvalidRequest, NotFound
from hpml_portal.validation import check_name

from . import access
from .models import ApiToken, AuditEvent, Membership, Role, Team

TOKEN_PREFIX = "hpml_"
# last_used_at is a hint for people, not a log: write it at most this often per token.
TOKEN_TOUCH_SECONDS = 60


class AccountError(InvalidRequest):
    """A request about teams, members or tokens that cannot be carried out."""


def audit_record(
    *,
    action: str,
    actor=None,
    team: Team | None = None,
    target: str = "",
    detail: dict | None = None,
    ip: str | None = None,
    actor_name: str = "operator",
) -> AuditEvent:
    """Append one row to the audit log (``actor=None`` is the operator, unless named)."""
    named = actor is not None and actor.is_authenticated
    return AuditEvent.objects.create(
        action=action,
        actor=actor if named else None,
        actor_name=actor.get_username() if named else actor_name,
        team=team,
        target=target[:300],
        detail=detail or {},
        ip=ip,
    )


def _require_operator(actor, what: str) -> None:
    if not access.is_operator(actor):
        raise access.AccessDenied(f"only a staff superuser may {what}")


def team_create(*, slug: str, name: str = "", actor=None) -> Team:
    _require_operator(actor, "create teams")
    check_name("team", slug, AccountError, max_length=50)
    if len(slug) > 50:
        raise AccountError("a team name has at most 50 characters")
    try:
        with transaction.atomic():
            team = Team.objects.create(slug=slug, name=name[:100])
            audit_record(action=AuditEvent.Action.TEAM_CREATED, actor=actor, team=team, target=slug)
    except IntegrityError as exc:  # the slug is taken (perhaps by a request running alongside)
        raise Conflict(f"a team named {slug!r} already exists") from exc
    return team


def team_rename(*, team: Team, name: str, actor=None) -> Team:
    """Change a team's display name (its slug, which URLs and claims use, never changes)."""
    _require_operator(actor, "rename teams")
    before = Team.objects.values_list("name", flat=True).get(pk=team.pk)
    if before == name:
        return team
    with transaction.atomic():
        Team.objects.filter(pk=team.pk).update(name=name[:100])
        audit_record(
            action=AuditEvent.Action.TEAM_RENAMED,
            actor=actor,
            team=team,
            target=team.slug,
            detail={"from": before, "to": name[:100]},
        )
    team.name = name[:100]
    return team


def user_get_or_create(*, username: str):
    """The user named ``username``; made without a password (API, SSO or a later password
    reset) when there is none yet. Returns (user, created)."""
    User = get_user_model()
    field = User._meta.get_field(User.USERNAME_FIELD)
    try:
        field.run_validators(username)
    except ValidationError as exc:
        raise AccountError(f"invalid username {username!r}") from exc
    if not username or len(username) > field.max_length:
        raise AccountError(f"invalid username {username!r}")
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user, created


def membership_set(*, team: Team, user, role: str, actor=None, via: str = "") -> Membership | None:
    """Give ``user`` ``role`` in ``team`` (replacing another role); None when nothing changed."""
    if via != "jwt":  # an identity service's claim is checked where the token is
        _require_operator(actor, "change team memberships")
    if role not in Role.values:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(Role.values)}")
    with transaction.atomic():
        current = Membership.objects.select_for_update().filter(team=team, user=user).first()
        if current is not None and current.role == role:
            return None
        if current is None:
            membership = Membership.objects.create(team=team, user=user, role=role)
            action, detail = AuditEvent.Action.MEMBERSHIP_ADDED, {"role": role}
        else:
            detail = {"from": current.role, "role": role}
            current.role = role
            current.save(update_fields=["role", "updated_at"])
            membership, action = current, AuditEvent.Action.MEMBERSHIP_CHANGED
        if via:
            detail["via"] = via
        audit_record(
            action=action, actor=actor, team=team, target=user.get_username(), detail=detail
        )
    access.forget_roles(user)
    return membership


def membership_remove(*, team: Team, user, actor=None, via: str = "") -> bool:
    if via != "jwt":  # an identity service's claim is checked where the token is
        _require_operator(actor, "change team memberships")
    with transaction.atomic():
        current = Membership.objects.select_for_update().filter(team=team, user=user).first()
        if current is None:
            return False
        current.delete()
        detail = {"from": current.role, **({"via": via} if via else {})}
        audit_record(
            action=AuditEvent.Action.MEMBERSHIP_REMOVED,
            actor=actor,
            team=team,
            target=user.get_username(),
            detail=detail,
        )
    access.forget_roles(user)
    return True


def membership_sync(*, user, wanted: dict[str, str]) -> list[str]:
    """Make ``user``'s memberships exactly ``wanted`` ({team slug: role}), as an identity
    service's roles claim says at sign-on. Unknown teams are skipped (teams are made by
    operators). Returns the slugs of the teams that were skipped."""
    teams = {t.slug: t for t in Team.objects.filter(slug__in=wanted)}
    current = {m.team.slug: m for m in Membership.objects.select_related("team").filter(user=user)}
    for slug, role in wanted.items():
        if slug in teams and (slug not in current or current[slug].role != role):
            membership_set(team=teams[slug], user=user, role=role, actor=user, via="jwt")
    for slug, membership in current.items():
        if slug not in wanted:
            membership_remove(team=membership.team, user=user, actor=user, via="jwt")
    return sorted(set(wanted) - set(teams))


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(
    *,
    user,
    name: str = "",
    predict_models: list[str] | None = None,
    expires_at: datetime | None = None,
    actor=None,
) -> tuple[ApiToken, str]:
    """Make a token for ``user``; return it and its key, which is never shown again.

    ``predict_models`` ("team/model") limits the token to predicting with those models; the
    user must hold a role that may predict in each of their teams.
    """
    if actor is not None and actor != user and not access.is_operator(actor):
        raise access.AccessDenied("only a staff superuser may make tokens for another user")
    if not user.is_active:
        raise AccountError(f"user {user.get_username()!r} is inactive")
    models = _checked_predict_models(user, predict_models or [])
    if expires_at is not None and expires_at <= timezone.now():
        raise AccountError("the expiry is in the past")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name[:100],
            prefix=key[: len(TOKEN_PREFIX) + 6],
            key_hash=_hash_key(key),
            predict_models=models,
            expires_at=expires_at,
            created_by=actor if actor is not None and actor.is_authenticated else None,
        )
        audit_record(
            action=AuditEvent.Action.TOKEN_CREATED,
            actor=actor,
            target=f"{user.get_username()}: {token.prefix}…",
            detail={"token_id": token.pk, "predict_models": models, "name": token.name},
        )
    return token, key


def _checked_predict_models(user, names: list[str]) -> list[str]:
    checked = []
    for name in names:
        team_slug, sep, model = name.partition("/")
        if not sep or not team_slug or not model:
            raise AccountError(f"name the model as team/model, got {name!r}")
        check_name("model", model, AccountError)
        team = Team.objects.filter(slug=team_slug).first()
        if team is None or not access.can(user, team.pk, access.Capability.PREDICT):
            raise AccountError(
                f"user {user.get_username()!r} may not predict in a team {team_slug!r}"
            )
        checked.append(f"{team_slug}/{model}")
    return sorted(set(checked))


def api_token_revoke(*, token: ApiToken, actor=None) -> bool:
    """Revoke a token now; False when it was already revoked."""
    if actor is not None and actor != token.user and not access.is_operator(actor):
        raise NotFound("there is no such token")
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            ttl_cache.expire_soon()  # this process stops accepting it now; others within seconds
            audit_record(
                action=AuditEvent.Action.TOKEN_REVOKED,
                actor=actor,
                target=f"{token.user.get_username()}: {token.prefix}…",
                detail={"token_id": token.pk},
            )
    return bool(revoked)


def api_token_authenticate(key: str) -> ApiToken | None:
    """The live token whose key is ``key`` (with its user), or None."""
    if not key.startswith(TOKEN_PREFIX) and len(key) != 40:  # 40: keys made before hashing
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash_key(key), revoked_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if token is None or (token.expires_at is not None and token.expires_at <= now):
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(
        seconds=TOKEN_TOUCH_SECONDS
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
