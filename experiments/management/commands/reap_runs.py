from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ...services import training_run_reap


class Command(BaseCommand):
    help = (
        "End FAILED every RUNNING run whose worker has sent no heartbeat for --stale-after "
        "seconds (what the periodic reaper runs)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after",
            type=int,
            default=settings.RUN_STALE_AFTER,
            help=f"seconds without a heartbeat (default {settings.RUN_STALE_AFTER})",
        )

    def handle(self, *args, stale_after, **options):
        if stale_after < 1:
            raise CommandError("--stale-after must be at least 1 second")
        reaped = training_run_reap(stale_after=stale_after)
        for run_id in reaped:
            self.stdout.write(f"run {run_id} FAILED: no heartbeat for {stale_after}s")
        self.stdout.write(f"reaped {len(reaped)} run(s)")
