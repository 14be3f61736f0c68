from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.cli import one_line_errors
from hpml_portal.jobs import job_reap


class Command(BaseCommand):
    help = (
        "End FAILED every running job (training run, dataset ingest or processing) whose "
        "worker has sent no heartbeat for --stale-after seconds, and send again the message of "
        "every job still waiting --requeue-after seconds after it was sent (what the periodic "
        "reaper runs)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after",
            type=int,
            default=settings.RUN_STALE_AFTER,
            help=f"seconds without a heartbeat (default {settings.RUN_STALE_AFTER})",
        )
        parser.add_argument(
            "--requeue-after",
            type=int,
            default=settings.JOB_REQUEUE_AFTER,
            help=f"seconds a job may wait for a worker (default {settings.JOB_REQUEUE_AFTER})",
        )

    @one_line_errors
    def handle(self, *args, stale_after, requeue_after, **options):
        if stale_after < 1 or requeue_after < 1:
            raise CommandError("--stale-after and --requeue-after must be at least 1 second")
        done = job_reap(stale_after=stale_after, requeue_after=requeue_after)
        for kind, pk, action in done:
            if action == "reaped":
                self.stdout.write(f"{kind} {pk} FAILED: no heartbeat for {stale_after}s")
            else:
                self.stdout.write(f"{kind} {pk} was waiting too long: sent again")
        reaped = sum(action == "reaped" for _, _, action in done)
        self.stdout.write(f"reaped {reaped} job(s), sent {len(done) - reaped} again")
