import gc
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments, one_line_errors
from hpml_portal.errors import ServiceError
from hpml_portal.quiet import start_keras_quietly

# No TensorFlow here, nor in what these import: a command that a worker answers, or that
# refuses its input, never starts it.
from ... import cli
from ...runtime import InputError


class Command(BaseCommand):
    help = (
        'Predict with MODEL from JSON rows: {"instances": [[...], ...]}, {"inputs": ...}, '
        '{"dataframe_split": {"columns": [...], "data": [...]}}, {"dataframe_records": [...]} '
        "or a bare list of rows. Prints the answer as JSON, as the API gives it. A worker of "
        "the default queue answers when one takes the request within --worker-wait seconds "
        "(workers keep the models they served loaded, and the cache must be shared: "
        "CACHE_URL); otherwise this process starts TensorFlow, loads the model and predicts "
        "(seconds). Input that the model refuses is refused before either."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version N selects a model version here, in place of Django's --version flag.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def run_from_argv(self, argv):
        """The command as a process of its own (manage.py), which ends when it returns."""
        try:
            super().run_from_argv(argv)
        finally:
            # The interpreter's last garbage collection walks TensorFlow's objects for about a
            # second once it is loaded; frozen objects are left out of it. Nothing here needs a
            # finalizer run by it: the prediction log is written by an atexit handler.
            gc.freeze()

    def add_arguments(self, parser):
        parser.add_argument("model")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--input", help="a JSON file")
        source.add_argument("--stdin", action="store_true", help="read the JSON from stdin")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--version", type=int)
        which.add_argument("--alias", help="default: production")
        parser.add_argument(
            "--worker-wait",
            type=float,
            default=0.5,
            metavar="SECONDS",
            help="how long a worker may take to pick the request up before this process "
            "predicts itself (default: 0.5; 0: do not ask the workers)",
        )
        add_actor_arguments(parser)

    @one_line_errors
    def handle(self, *args, model, input, stdin, version, alias, user, team, **options):
        self.verbosity = options["verbosity"]
        actor = actor_from(user)
        body = self.read_json(input, stdin)
        request = cli.PredictRequest(
            model_name=model,
            payload=body if isinstance(body, dict) else {"instances": body},  # bare rows
            version=version,
            alias=alias,
            team=team,
            username=user,
        )
        try:
            cli.prediction_check(request=request, user=actor)
        except (ServiceError, InputError) as exc:
            raise CommandError(str(exc)) from exc
        reply = cli.prediction_offer(request=request, wait=options["worker_wait"], say=self.note)
        if reply is None:
            reply = self.predict_here(request, actor)
        if "error" in reply:
            raise CommandError(reply["error"])
        self.stdout.write(json.dumps(reply["answer"]))

    def read_json(self, input: str | None, stdin: bool) -> object:
        try:
            text = sys.stdin.read() if stdin else Path(input).read_text()
            return json.loads(text)
        except OSError as exc:
            raise CommandError(f"cannot read {input}: {exc.strerror}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CommandError(f"the input is not valid JSON: {exc}") from exc

    def predict_here(self, request: cli.PredictRequest, actor) -> dict:
        start_keras_quietly()  # before the model's load would start TensorFlow, unsilenced
        return cli.prediction_reply(request=request, user=actor)

    def note(self, line: str) -> None:
        """Where the answer comes from, said on stderr at --verbosity 2 only: stdout is the
        answer's, and scripts read stderr as failures."""
        if self.verbosity >= 2:
            self.stderr.write(line)
