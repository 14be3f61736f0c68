"""Who may do what: roles grant capabilities per team; staff superusers may do everything.

Reads only (no writes). Selectors scope querysets with :func:`scope`; services check an action
with :func:`require`. ``user=None`` is the operator of the installation (a command run without
``--user``, or the platform's own tasks): it sees and may do everything.
"""

from enum import StrEnum

from django.db.models import QuerySet

from hpml_portal.errors import Forbidden

from .models import Membership, Role, Team


class Capability(StrEnum):
    READ = "read"
    PREDICT = "predict"
    WRITE = "write"  # ingest, process, train, sweep, cancel, aliases other than production
    PROMOTE = "promote"  # move the production alias


GRANTS: dict[str, frozenset[Capability]] = {
    Role.VIEWER: frozenset({Capability.READ, Capability.PREDICT}),
    Role.SCIENTIST: frozenset({Capability.READ, Capability.PREDICT, Capability.WRITE}),
    Role.APPROVER: frozenset(Capability),
    Role.PREDICTOR: frozenset({Capability.PREDICT}),
}
# The least role that grants each capability, named in 403 answers.
NEEDED_ROLE = {
    Capability.READ: Role.VIEWER,
    Capability.PREDICT: Role.PREDICTOR,
    Capability.WRITE: Role.SCIENTIST,
    Capability.PROMOTE: Role.APPROVER,
}


class AccessDenied(Forbidden):
    """A role that does not allow the action (HTTP 403); the message names the missing role."""


def is_operator(user) -> bool:
    """The installation's operator or a staff superuser: above every team."""
    return user is None or bool(user.is_active and user.is_superuser)


def roles(user) -> dict[int, str]:
    """{team id: role} of a user, read once per user object (one request, one command)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return {}
    cached = getattr(user, "_hpml_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
        user._hpml_roles = cached
    return cached


def forget_roles(user) -> None:
    """Drop the roles read for ``user`` (after its memberships changed)."""
    if user is not None and hasattr(user, "_hpml_roles"):
        del user._hpml_roles


def team_ids(user, capability: Capability | None = None) -> set[int] | None:
    """Teams where ``user`` holds ``capability`` (any role when None); None means every team."""
    if is_operator(user):
        return None
    return {
        team_id
        for team_id, role in roles(user).items()
        if capability is None or capability in GRANTS[role]
    }


def scope(queryset: QuerySet, user, team_field: str, capability: Capability | None) -> QuerySet:
    """``queryset`` cut down to the teams where ``user`` holds ``capability``."""
    allowed = team_ids(user, capability)
    if allowed is None:
        return queryset
    return queryset.filter(**{f"{team_field}__in": allowed})


def can(user, team_id: int, capability: Capability) -> bool:
    if is_operator(user):
        return True
    role = roles(user).get(team_id)
    return role is not None and capability in GRANTS[role]


def can_anywhere(user, capability: Capability) -> bool:
    """Whether ``user`` holds ``capability`` in at least one team."""
    allowed = team_ids(user, capability)
    return allowed is None or bool(allowed)


def require(user, team: Team, capability: Capability, action: str = "") -> None:
    """Raise AccessDenied unless ``user`` holds ``capability`` in ``team``."""
    if can(user, team.pk, capability):
        return
    needed = NEEDED_ROLE[capability]
    current = roles(user).get(team.pk)
    having = f"you are {current}" if current else "you have no role there"
    doing = f" to {action}" if action else ""
    raise AccessDenied(f"you need the {needed} role in team {team.slug!r}{doing} ({having})")
