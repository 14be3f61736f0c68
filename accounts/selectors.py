"""Reads of teams, memberships, tokens and the audit log, scoped to the caller."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from hpml_portal.errors import InvalidRequest, NotFound

from . import access
from .access import Capability
from .models import ApiToken, AuditEvent, Membership, Team


class TeamNotFound(NotFound):
    """No team of that name among the caller's (HTTP 404 for URLs, 400 for a body field)."""


def team_list(*, user, capability: Capability | None = None) -> QuerySet[Team]:
    return access.scope(Team.objects.order_by("slug"), user, "pk", capability)


def team_default() -> Team:
    """The team that commands run without --team, and rows older than teams, belong to."""
    team, _ = Team.objects.get_or_create(slug=Team.DEFAULT, defaults={"name": "Default"})
    return team


def team_get(*, user, slug: str) -> Team:
    """A team ``user`` belongs to (any team for the operator), by slug."""
    team = team_list(user=user).filter(slug=slug).first()
    if team is None:
        raise TeamNotFound(f"there is no team {slug!r} that you belong to")
    return team


def team_for_create(*, user, slug: str | None, capability: Capability = Capability.WRITE) -> Team:
    """The team a new object goes to: the one named, else the caller's only team that allows
    ``capability``; the operator without a name gets the default team."""
    if slug:
        team = team_get(user=user, slug=slug)
        access.require(user, team, capability)
        return team
    if user is None:
        return team_default()
    teams = list(team_list(user=user, capability=capability)[:50])
    if len(teams) == 1:
        return teams[0]
    if not teams:
        if access.is_operator(user):
            return team_default()
        needed = access.NEEDED_ROLE[capability]
        raise access.AccessDenied(f"you need the {needed} role in a team to create anything")
    names = ", ".join(t.slug for t in teams)
    whose = "there are" if access.is_operator(user) else "you are in"
    raise InvalidRequest(f"{whose} several teams ({names}): say which with team")


def membership_list(*, user) -> QuerySet[Membership]:
    """Memberships of the teams ``user`` may read (every one for the operator)."""
    return access.scope(
        Membership.objects.select_related("team", "user"), user, "team", Capability.READ
    )


def user_get(username: str):
    """An active user by username; NotFound otherwise (a user is never made here)."""
    found = get_user_model().objects.filter(username=username).first()
    if found is None:
        raise NotFound(f"there is no user {username!r}")
    if not found.is_active:
        raise InvalidRequest(f"user {username!r} is inactive")
    return found


def api_token_list(*, user) -> QuerySet[ApiToken]:
    """Tokens ``user`` may see: their own (every token for the operator)."""
    tokens = ApiToken.objects.select_related("user", "created_by")
    return tokens if access.is_operator(user) else tokens.filter(user=user)


def audit_event_list() -> QuerySet[AuditEvent]:
    """The audit log, for staff superusers only (the API and the admin check that)."""
    return AuditEvent.objects.select_related("actor", "team")


class AmbiguousName(InvalidRequest):
    """A name that several of the caller's teams use, asked for without saying which team."""


def one_by_name(queryset: QuerySet, *, name: str, team: str | None, kind: str, not_found=NotFound):
    """The one row named ``name`` in ``queryset`` (already scoped to the caller's teams), in
    team ``team`` when given. Raises ``not_found`` or AmbiguousName, naming only teams that
    the caller can see."""
    rows = queryset.filter(name=name)
    if team:
        rows = rows.filter(team__slug=team)
    found = list(rows.select_related("team")[:10])
    if not found:
        where = f" in team {team!r}" if team else ""
        raise not_found(f"there is no {kind} named {name!r}{where}")
    if len(found) > 1:
        teams = ", ".join(sorted(row.team.slug for row in found))
        raise AmbiguousName(
            f"{kind} {name!r} exists in several of your teams ({teams}): say which with team"
        )
    return found[0]
