from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments, one_line_errors
from hpml_portal.errors import ServiceError
from hpml_portal.management.waiting import add_wait_arguments

from ...selectors import dataset_version_resolve
from ...services import dataset_version_process
from ..reporting import report_queued


def _numbers(kind: type, text: str, option: str) -> list:
    try:
        return [kind(part) for part in text.split(",")]
    except ValueError:
        raise CommandError(f"{option} takes comma-separated numbers, got {text!r}") from None


class Command(BaseCommand):
    help = (
        "Make a new version of a dataset by normalizing, splitting and/or reshaping a READY "
        "one, on a worker. The fitted parameters and the split are recorded in the new "
        "version's recipe; training uses that split, and a model trained on it applies the "
        "recipe to raw rows itself. The same recipe on the same version gives back the version "
        "it made. Without --wait the new version's id is the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="NAME (newest READY version) or NAME:VERSION")
        parser.add_argument("--normalize", choices=["minmax", "standard"])
        parser.add_argument(
            "--split", help="train,validation,test fractions summing to 1, e.g. 0.7,0.15,0.15"
        )
        parser.add_argument("--seed", type=int, help="seed of the split (default 0)")
        parser.add_argument(
            "--no-stratify",
            action="store_true",
            help="split without keeping each class in the same proportions",
        )
        parser.add_argument("--reshape", help="new feature shape, e.g. 8,8,1")
        add_actor_arguments(parser)
        add_wait_arguments(parser)

    @one_line_errors
    def handle(self, *args, dataset, user, team, wait, timeout, **options):
        actor = actor_from(user)
        spec = self._spec(**options)
        try:
            version = dataset_version_resolve(dataset, user=actor, team=team)
            child, created = dataset_version_process(version=version, spec=spec, user=actor)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        report_queued(self, child, created, wait=wait, timeout=timeout)

    @staticmethod
    def _spec(*, normalize, split, seed, no_stratify, reshape, **options) -> dict:
        spec: dict = {}
        if normalize:
            spec["normalize"] = normalize
        if split:
            spec["split"] = _numbers(float, split, "--split")
            spec["stratify"] = not no_stratify
        if seed is not None:
            spec["seed"] = seed
        if reshape:
            spec["reshape"] = _numbers(int, reshape, "--reshape")
        if not spec:
            raise CommandError("say what to do: --normalize, --split and/or --reshape")
        return spec
