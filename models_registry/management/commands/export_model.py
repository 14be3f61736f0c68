from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments, one_line_errors
from hpml_portal.errors import ServiceError

from ...selectors import model_version_get, registered_model_get
from ...services import model_version_export


class Command(BaseCommand):
    help = (
        "Write VERSION of MODEL to --out DIR: model.keras (its sha256 checked against the "
        "registry) and signature.json (model, team, version, sha256, input shape, classes, "
        "feature names). DIR is made when missing; existing files are never overwritten."
    )

    def add_arguments(self, parser):
        parser.add_argument("model")
        parser.add_argument("version", type=int)
        parser.add_argument("--out", required=True, type=Path, help="the folder to write to")
        add_actor_arguments(parser)

    @one_line_errors
    def handle(self, *args, model, version, out, user, team, **options):
        actor = actor_from(user)
        try:
            found = registered_model_get(user=actor, name=model, team=team)
            written = model_version_export(
                model_version=model_version_get(found, version), folder=out, user=actor
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"cannot write to {out}: {exc.strerror}") from exc
        for path in written:
            self.stdout.write(str(path))
