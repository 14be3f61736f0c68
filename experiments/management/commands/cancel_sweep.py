from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments, one_line_errors
from hpml_portal.errors import ServiceError

from ...selectors import sweep_list
from ...sweeps import sweep_cancel


class Command(BaseCommand):
    help = (
        "Cancel a sweep: its queued runs end at once, its running ones at their next batch. "
        "A sweep whose runs have all ended is left as it is (exit status 1)."
    )

    def add_arguments(self, parser):
        parser.add_argument("sweep_id", type=int)
        add_actor_arguments(parser, team=False)

    @one_line_errors
    def handle(self, *args, sweep_id, user, **options):
        actor = actor_from(user)
        sweep = sweep_list(user=actor, capability=None).filter(pk=sweep_id).first()
        if sweep is None:
            raise CommandError(f"there is no sweep {sweep_id}")
        try:
            stopping = sweep_cancel(sweep=sweep, user=actor)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        sweep = sweep_list(user=None).get(pk=sweep_id)
        self.stdout.write(
            f"sweep {sweep_id}: asked {stopping} run(s) to stop; it is {sweep.status}"
        )
