"""One lifecycle for every kind of background job: dataset ingests and processing, training
runs, and whatever comes next.

A job waits (its message is on the broker), is claimed by one worker (active, with a
heartbeat), and ends in a terminal status. Every move is a conditional UPDATE on the status
it leaves, so two workers, a redelivered message, a cancel and the reaper can race without
one undoing another ("another process got there first" is a no-op, never an error). The
reaper closes active jobs whose heartbeat stopped and sends again the message of jobs that
waited too long (a message lost by the broker), for every kind of job at once.
"""

import logging
import threading
from collections.abc import Iterable
from datetime import timedelta

from django.apps import apps
from django.db import connection, models
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone

logger = logging.getLogger(__name__)

# Sent with the model as sender and ``pks`` after the reaper closed some jobs of that kind.
job_reaped = Signal()


class JobStatus(models.TextChoices):
    """Every status word a job can have; each kind of job uses some of them."""

    PENDING = "PENDING"
    QUEUED = "QUEUED"
    INGESTING = "INGESTING"
    RUNNING = "RUNNING"
    READY = "READY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


def status_field(statuses: Iterable[JobStatus], default: JobStatus) -> models.CharField:
    return models.CharField(
        max_length=16, choices=[(s.value, s.label) for s in statuses], default=default
    )


def status_constraint(statuses: Iterable[JobStatus], name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(status__in=[s.value for s in statuses]), name=name)


class Job(models.Model):
    """Fields and status words shared by every job. A subclass names its words:

    - ``WAITING``: created, its message sent (``queued_at``), not claimed yet;
    - ``ACTIVE``: claimed by ``worker``, alive while ``heartbeat_at`` moves;
    - ``SUCCESS``, and ``TERMINAL`` (success and every other end);
    - ``TASK``: the Celery task that works on one job, given the job's primary key.

    A subclass also has ``status`` (``status_field``) and ``created_at``.
    """

    Status = JobStatus
    WAITING: JobStatus
    ACTIVE: JobStatus
    SUCCESS: JobStatus
    TERMINAL: frozenset
    TASK: str

    error = models.TextField(blank=True)
    worker = models.CharField(max_length=255, blank=True)
    # Counts claims: a worker's writes name the claim they belong to, so a worker that lost
    # its job (reaped, then retried and claimed by another) can no longer touch it.
    attempt = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def never_queued(self) -> bool:
        """Ended FAILED before any worker claimed it: its message could not be sent."""
        return self.status == JobStatus.FAILED and not self.attempt


def job_models() -> list[type[Job]]:
    return [m for m in apps.get_models() if issubclass(m, Job)]


def job_claim(model: type[Job], pk: int, *, worker: str = "") -> int | None:
    """WAITING -> ACTIVE; the claim's attempt number, or None when another worker got there
    first or the job has ended."""
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, status=model.WAITING).update(
        status=model.ACTIVE,
        started_at=now,
        heartbeat_at=now,
        worker=worker[:255],
        attempt=F("attempt") + 1,
    )
    if not claimed:
        return None
    return model.objects.filter(pk=pk).values_list("attempt", flat=True).first()


def _mine(model: type[Job], pk: int, attempt: int | None):
    jobs = model.objects.filter(pk=pk)
    return jobs if attempt is None else jobs.filter(attempt=attempt)


def job_beat(model: type[Job], pk: int, *, attempt: int | None = None, **fields) -> bool:
    """Record a heartbeat (and ``fields``) of an ACTIVE job (of the claim ``attempt``, when
    given); False when it is no longer active (cancelled, reaped): the worker should stop."""
    return bool(
        _mine(model, pk, attempt)
        .filter(status=model.ACTIVE)
        .update(heartbeat_at=timezone.now(), **fields)
    )


def job_release(model: type[Job], pk: int, *, attempt: int | None = None) -> bool:
    """ACTIVE -> WAITING, for a worker that hit a passing error and will try again later."""
    return bool(
        _mine(model, pk, attempt)
        .filter(status=model.ACTIVE)
        .update(status=model.WAITING, worker="", heartbeat_at=None)
    )


def job_finish(
    model: type[Job],
    pk: int,
    status: str,
    *,
    error: str = "",
    only_from=None,
    attempt: int | None = None,
    **fields,
) -> bool:
    """Move a job that has not ended to the terminal ``status``; False when it had already
    ended, was not in ``only_from``, or is no longer the claim ``attempt``: the first end
    wins, and a worker that lost its claim ends nothing."""
    if status not in model.TERMINAL:
        raise ValueError(f"{status} is not a terminal status of {model.__name__}")
    jobs = _mine(model, pk, attempt).exclude(status__in=model.TERMINAL)
    if only_from is not None:
        jobs = jobs.filter(status__in=only_from)
    ended = jobs.update(status=status, error=error[:10000], finished_at=timezone.now(), **fields)
    return ended == 1


def job_flag(model: type[Job], pk: int, **fields) -> bool:
    """Set ``fields`` on an ACTIVE job for its worker to see (a cancel request); False when
    it is not active."""
    return bool(model.objects.filter(pk=pk, status=model.ACTIVE).update(**fields))


def job_reopen(model: type[Job], pk: int, **fields) -> bool:
    """FAILED -> WAITING, to run a failed job again (and set ``fields``); False when it is no
    longer FAILED. Its message is the caller's to send, after commit."""
    return bool(
        model.objects.filter(pk=pk, status=JobStatus.FAILED).update(
            status=model.WAITING,
            error="",
            worker="",
            started_at=None,
            heartbeat_at=None,
            finished_at=None,
            **fields,
        )
    )


def broker_failure(exc: BaseException) -> str:
    """Why a message could not be sent, in words for the job's error and the API's 503: the
    broker's address stays in the log (``exc`` names it), out of what every caller reads."""
    return f"the broker cannot be reached ({type(exc).__name__})"


def job_send(model: type[Job], pk: int) -> None:
    """Send the job's message and record when; raises when the broker cannot take it."""
    from celery import current_app

    current_app.send_task(model.TASK, args=(pk,))
    model.objects.filter(pk=pk, status=model.WAITING).update(queued_at=timezone.now())


def job_reap(*, stale_after: int, requeue_after: int) -> list[tuple[str, int, str]]:
    """Close every active job with no heartbeat for ``stale_after`` seconds (FAILED), and send
    again the message of every job still waiting ``requeue_after`` seconds after it was sent.

    A message sent twice is harmless: the claim lets one worker through. Nothing is sent
    again while workers are still claiming jobs of that kind (the waiting ones are queued
    behind), and a message the broker cannot take now is tried at the next round. Returns what
    was done as (kind of job, id, "reaped" or "requeued").
    """
    now = timezone.now()
    done: list[tuple[str, int, str]] = []
    for model in job_models():
        kind = str(model._meta.verbose_name)
        stale = model.objects.filter(
            status=model.ACTIVE, heartbeat_at__lt=now - timedelta(seconds=stale_after)
        )
        reaped = [
            pk
            for pk in stale.values_list("pk", flat=True)
            if stale.filter(pk=pk).update(
                status=JobStatus.FAILED,
                finished_at=now,
                error=f"the worker stopped sending heartbeats (none for over {stale_after}s)",
            )
        ]
        for pk in reaped:
            logger.warning("reaped %s %s: no heartbeat for %ss", kind, pk, stale_after)
        if reaped:
            job_reaped.send(sender=model, pks=reaped)
        cutoff = now - timedelta(seconds=requeue_after)
        # While workers keep claiming jobs of this kind, the waiting ones are in the queue
        # behind them: sending them again would only pile up messages.
        moving = model.objects.filter(started_at__gte=cutoff).exists()
        waiting = model.objects.filter(status=model.WAITING).filter(
            Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, created_at__lt=cutoff)
        )
        pks = [] if moving else list(waiting.values_list("pk", flat=True))
        requeued = _resend(model, pks)
        done += [(kind, pk, "reaped") for pk in reaped]
        done += [(kind, pk, "requeued") for pk in requeued]
    return done


def _resend(model: type[Job], pks: list[int]) -> list[int]:
    """Send again the message of each job; the ones sent. The first one the broker refuses
    ends the round for this kind of job: each would wait out the publish retries in turn, and
    the next round tries them all again."""
    sent = []
    for pk in pks:
        try:
            job_send(model, pk)
        except Exception as exc:
            logger.warning("could not send %s %s again (nor the rest): %s", model.__name__, pk, exc)
            break
        logger.warning("sent %s %s again: it waited too long", model.__name__, pk)
        sent.append(pk)
    return sent


class Heartbeat:
    """Beats for an ACTIVE job from a background thread every ``interval`` seconds, so a job
    busy in one long call (a download, a query, a pass over the data) still shows it is
    alive; ``update()`` sets the progress fields the next beat writes. ``lost`` turns True
    when the job is no longer active (the reaper closed it, or it was cancelled)."""

    def __init__(
        self, model: type[Job], pk: int, *, attempt: int | None = None, interval: float = 1.0
    ):
        self.model, self.pk, self.attempt, self.interval = model, pk, attempt, interval
        self.fields: dict = {}
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{pk}", daemon=True)

    def update(self, **fields) -> None:
        self.fields = {**self.fields, **fields}

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        failing = False
        try:
            while not self._stop.wait(self.interval):
                try:
                    alive = job_beat(self.model, self.pk, attempt=self.attempt, **self.fields)
                except Exception:  # a database hiccup: reconnect at the next beat
                    if not failing:
                        logger.exception("heartbeat of %s %s failed", self.model.__name__, self.pk)
                    failing = True
                    connection.close()
                    continue
                failing, self.lost = False, self.lost or not alive
        finally:
            connection.close()  # this thread's own connection
