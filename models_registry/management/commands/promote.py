from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments, one_line_errors
from hpml_portal.errors import ServiceError

from ...selectors import model_version_get, registered_model_get
from ...services import model_alias_set


class Command(BaseCommand):
    help = (
        "Point an alias (default production) of MODEL at VERSION, with an audit record. "
        "With --user, production needs that user's approver role, other aliases scientist."
    )

    def add_arguments(self, parser):
        parser.add_argument("model")
        parser.add_argument("version", type=int)
        parser.add_argument("--alias", default="production")
        parser.add_argument("--comment", default="", help="why (kept in the audit trail)")
        add_actor_arguments(parser)

    @one_line_errors
    def handle(self, *args, model, version, alias, comment, user, team, **options):
        actor = actor_from(user)
        try:
            found = registered_model_get(user=actor, name=model, team=team)
            event = model_alias_set(
                model_version=model_version_get(found, version),
                alias=alias,
                user=actor,
                comment=comment,
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        if event is None:
            self.stdout.write(f"{model}@{alias} already points at version {version}")
            return
        before = f"version {event.from_version.version}" if event.from_version else "nothing"
        self.stdout.write(f"{model}@{alias}: {before} -> version {version}")
