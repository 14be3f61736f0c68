"""The id of the web request that a log line, a Celery task or an MLflow run belongs to.

A request keeps the ``X-Request-ID`` its caller (or a proxy in front) sent when it is a sane
token, else gets a new one; the answer carries it back. It lives in a context variable for the
request, so every log line of the request can name it (``hpml_portal.logs``). The tasks the
request enqueues carry it in their message headers, and the worker holds it while it runs
them: a training run's worker logs and its MLflow run (tag ``hpml.request_id``) name the
request that asked for it, and so do the tasks those tasks enqueue.
"""

import contextvars
import re
import uuid

from django.core.signals import request_finished

HEADER = "X-Request-ID"
TASK_HEADER = "hpml_request_id"  # the key in a Celery message's headers
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "hpml_request_id", default=None
)
_task: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "hpml_task", default=None
)
_task_tokens: dict[str, tuple] = {}  # a running task's context tokens, by task id


def current() -> str | None:
    """The id of the request (or the task started by one) this code runs for, if any."""
    return _request_id.get()


def current_task() -> tuple[str, str] | None:
    """(task id, task name) of the Celery task this code runs in, if any."""
    return _task.get()


def sane(value: object) -> str | None:
    """``value`` when it is a token safe to echo and log (at most 64 of [A-Za-z0-9._-])."""
    return value if isinstance(value, str) and _SANE.fullmatch(value) else None


def accepted_or_new(value: object) -> str:
    return sane(value) or uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives each request its id, held until the answer has been sent: Django logs a 4xx or
    5xx answer after the middleware has returned, and that line should name the request too.
    Every request sets its own id first, so nothing of a previous one carries over."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = accepted_or_new(request.META.get("HTTP_X_REQUEST_ID"))
        _request_id.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


def _forget(**kwargs) -> None:
    _request_id.set(None)


# Sent once the server has sent the answer and closed it, on the thread that served it.
request_finished.connect(_forget, dispatch_uid="hpml_request_id_forget")


# --- Celery: connected to the app's signals in hpml_portal/celery.py ---------------------------


def on_task_publish(headers: dict | None = None, **kwargs) -> None:
    """``before_task_publish``: the message of a task enqueued for a request names it."""
    request_id = current()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


def _from_message(request) -> str | None:
    # Celery 5 hands a message's own headers to the task as attributes of its request, and
    # also gathers them under ``request.headers``.
    found = getattr(request, TASK_HEADER, None)
    if found is None:
        found = (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    return sane(found)  # anything on the broker may have published it


def on_task_prerun(task_id: str | None = None, task=None, **kwargs) -> None:
    """``task_prerun``: hold the message's request id (and the task) while the task runs. A
    task run in the publishing process (eagerly) keeps the id it already has."""
    request_id = _from_message(getattr(task, "request", None)) or current()
    name = getattr(task, "name", None) or ""
    tokens = (_request_id.set(request_id), _task.set((task_id or "", name)))
    if task_id:
        _task_tokens[task_id] = tokens


def on_task_postrun(task_id: str | None = None, **kwargs) -> None:
    """``task_postrun``: back to what held before the task."""
    tokens = _task_tokens.pop(task_id, None) if task_id else None
    if tokens is None:
        return
    for var, token in zip((_request_id, _task), tokens, strict=True):
        try:
            var.reset(token)
        except ValueError:  # set in another context (never on Celery's own pools)
            var.set(None)
