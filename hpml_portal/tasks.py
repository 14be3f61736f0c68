from celery import shared_task
from django.conf import settings

from .jobs import job_reap


@shared_task(name="hpml_portal.tasks.reap_jobs")
def reap_jobs() -> None:
    """Close jobs whose worker died and resend lost messages (run every minute by beat)."""
    job_reap(stale_after=settings.RUN_STALE_AFTER, requeue_after=settings.JOB_REQUEUE_AFTER)
