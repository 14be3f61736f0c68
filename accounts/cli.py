"""What the management commands share: who they act as, and in which team."""

from django.core.management.base import CommandError

from hpml_portal.errors import ServiceError

from . import selectors


def add_actor_arguments(parser, *, team: bool = True) -> None:
    parser.add_argument(
        "--user",
        help="act as this user, with their roles (default: the operator, who sees every team)",
    )
    if team:
        parser.add_argument(
            "--team",
            help="the team: where new objects go, and which team's object a name means when "
            "several teams use it (default: the only one, or 'default' for the operator)",
        )


def actor_from(username: str | None):
    """The user a command acts as (None: the operator)."""
    if not username:
        return None
    try:
        return selectors.user_get(username)
    except ServiceError as exc:
        raise CommandError(str(exc)) from exc
