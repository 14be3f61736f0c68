from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments, one_line_errors
from hpml_portal.errors import ServiceError

from ...models import TrainingRun
from ...selectors import training_run_list
from ...services import training_run_cancel


class Command(BaseCommand):
    help = "Cancel a training run: a queued run ends at once, a running one at its next batch."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        add_actor_arguments(parser, team=False)

    @one_line_errors
    def handle(self, *args, run_id, user, **options):
        actor = actor_from(user)
        run = training_run_list(user=actor, capability=None).filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"there is no run {run_id}")
        try:
            run = training_run_cancel(run=run, user=actor)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        if run.status == TrainingRun.Status.CANCELLED:
            self.stdout.write(f"run {run.pk} CANCELLED")
        else:
            self.stdout.write(f"run {run.pk} is {run.status}; it stops at its next batch")
