"""Whether the job queues move: how long the oldest waiting job of each queue has waited.

Read from the database (every job's status lives there), so every process answers the same
whatever the broker holds. A queue whose oldest job has waited longer than
QUEUE_STALL_SECONDS is *stalled*: no worker has taken a job from it for that long. /readyz,
/metrics and the dashboard say so; none of them fails for it (a web process serves
predictions without workers).
"""

from django.conf import settings
from django.db.models import Case, F, Min, When
from django.db.models.functions import Coalesce
from django.utils import timezone

QUEUES = ("default", "training")


def queue_of(task: str) -> str:
    route = settings.CELERY_TASK_ROUTES.get(task, {})
    return route.get("queue", settings.CELERY_TASK_DEFAULT_QUEUE)


def _waiting_since():
    # A job that never ran waits since it was made: when the reaper sends its lost message
    # again (queued_at moves), the job itself has not moved. One that ran before and was put
    # back (retried) waits since its message was sent again.
    return Case(
        When(attempt=0, then=F("created_at")),
        default=Coalesce(F("queued_at"), F("created_at")),
    )


def oldest_waiting() -> dict[str, float]:
    """Seconds the oldest waiting job of each queue has waited (0 when none waits); one query
    per kind of job."""
    from .jobs import job_models

    now = timezone.now()
    ages = dict.fromkeys(QUEUES, 0.0)
    for model in job_models():
        waiting = model.objects.filter(status=model.WAITING)
        since = waiting.aggregate(oldest=Min(_waiting_since()))["oldest"]
        if since is not None:
            queue = queue_of(model.TASK)
            ages[queue] = max(ages.get(queue, 0.0), (now - since).total_seconds())
    return ages


def stalled(ages: dict[str, float]) -> dict[str, int]:
    """The queues whose oldest job has waited over QUEUE_STALL_SECONDS, with its wait."""
    limit = settings.QUEUE_STALL_SECONDS
    return {queue: int(age) for queue, age in sorted(ages.items()) if age > limit}


def describe(stalled_queues: dict[str, int]) -> str:
    """``ok``, or ``stalled: training (412 s)`` naming each stalled queue."""
    if not stalled_queues:
        return "ok"
    return "stalled: " + ", ".join(f"{q} ({age} s)" for q, age in stalled_queues.items())
