from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments, one_line_errors
from hpml_portal.errors import ServiceError
from hpml_portal.management.waiting import add_wait_arguments

from ...selectors import dataset_version_resolve
from ...services import dataset_version_retry
from ..reporting import report_queued


class Command(BaseCommand):
    help = (
        "Queue a FAILED dataset version's ingest again, from the source it was made from (an "
        "upload is kept only when it failed for a passing reason). Without --wait the "
        "version's id is the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", help="NAME:VERSION of a FAILED version")
        add_actor_arguments(parser)
        add_wait_arguments(parser)

    @one_line_errors
    def handle(self, *args, version, user, team, wait, timeout, **options):
        actor = actor_from(user)
        if ":" not in version:
            raise CommandError("name the version to retry as NAME:VERSION")
        try:
            found = dataset_version_resolve(version, user=actor, team=team)
            retried = dataset_version_retry(version=found, user=actor)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        report_queued(self, retried, True, wait=wait, timeout=timeout)
