from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ...selectors import ModelNotFound, model_version_get
from ...services import RegistryError, model_alias_set


class Command(BaseCommand):
    help = "Point an alias (default production) of MODEL at VERSION, with an audit record."

    def add_arguments(self, parser):
        parser.add_argument("model")
        parser.add_argument("version", type=int)
        parser.add_argument("--alias", default="production")
        parser.add_argument("--comment", default="", help="why (kept in the audit trail)")
        parser.add_argument("--user", help="username recorded in the audit trail")

    def handle(self, *args, model, version, alias, comment, user, **options):
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"there is no user {user!r}")
        try:
            model_version = model_version_get(model, version)
            event = model_alias_set(
                model_version=model_version, alias=alias, user=actor, comment=comment
            )
        except (ModelNotFound, RegistryError) as exc:
            raise CommandError(str(exc)) from exc
        if event is None:
            self.stdout.write(f"{model}@{alias} already points at version {version}")
            return
        before = f"version {event.from_version.version}" if event.from_version else "nothing"
        self.stdout.write(f"{model}@{alias}: {before} -> version {version}")
