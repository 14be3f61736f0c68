import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments
from hpml_portal.errors import ServiceError
from hpml_portal.quiet import start_keras_quietly

from ...services import prediction_create


class Command(BaseCommand):
    help = (
        'Predict with MODEL from JSON rows: {"instances": [[...], ...]}, {"inputs": ...}, '
        '{"dataframe_split": {"columns": [...], "data": [...]}}, {"dataframe_records": [...]} '
        "or a bare list of rows. Prints the answer as JSON, as the API gives it."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version N selects a model version here, in place of Django's --version flag.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("model")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--input", help="a JSON file")
        source.add_argument("--stdin", action="store_true", help="read the JSON from stdin")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--version", type=int)
        which.add_argument("--alias", help="default: production")
        add_actor_arguments(parser)

    def handle(self, *args, model, input, stdin, version, alias, user, team, **options):
        start_keras_quietly()
        from ...runtime import InputError, ModelIntegrityError

        actor = actor_from(user)
        try:
            text = sys.stdin.read() if stdin else Path(input).read_text()
            body = json.loads(text)
        except OSError as exc:
            raise CommandError(f"cannot read {input}: {exc.strerror}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CommandError(f"the input is not valid JSON: {exc}") from exc
        payload = body if isinstance(body, dict) else {"instances": body}  # a bare list of rows
        try:
            result = prediction_create(
                model_name=model,
                payload=payload,
                version=version,
                alias=alias,
                team=team,
                user=actor,
            )
        except (ServiceError, InputError, ModelIntegrityError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result.answer()))
