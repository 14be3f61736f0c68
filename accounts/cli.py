"""What the management commands share: who they act as, in which team, and how they fail."""

import functools
from collections.abc import Callable

from django.core.management.base import CommandError

from hpml_portal.errors import ServiceError

from . import selectors


def one_line_errors(handle: Callable) -> Callable:
    """Wrap a command's ``handle`` so that it fails with one line saying why (exit status 1)
    instead of a traceback: a service's refusal, or a service the command needs (the
    database, the storage, the broker, MLflow) that cannot be reached. Other errors are bugs
    and keep their traceback."""

    @functools.wraps(handle)
    def handle_in_one_line(*args, **kwargs):
        try:
            return handle(*args, **kwargs)
        except CommandError:
            raise
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            reason = dependency_failure(exc)
            if reason is None:
                raise
            raise CommandError(reason) from exc

    return handle_in_one_line


def dependency_failure(exc: BaseException) -> str | None:
    """What could not be reached, in one line, when ``exc`` says a service is down; else None."""
    from django.db import InterfaceError, OperationalError
    from kombu.exceptions import OperationalError as BrokerError

    from hpml_portal import storage

    if isinstance(exc, OperationalError | InterfaceError):
        return f"the database cannot be reached: {_first_line(exc)}"
    if isinstance(exc, BrokerError):
        return f"the broker cannot be reached: {_first_line(exc)}"
    if storage.is_unreachable(exc):
        return f"the object storage cannot be reached: {_first_line(exc)}"
    from hpml_portal import mlflow_client  # only on this path: MLflow is slow to import

    if mlflow_client.is_unreachable(exc):
        return f"{mlflow_client.unreachable_reason(exc)}: {_first_line(exc)}"
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


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
