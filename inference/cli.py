"""``manage.py predict`` around the prediction service: fast answers from a shell.

Starting TensorFlow and loading the model cost a command several seconds; Django's start about
one. So the command:

1. checks the request as the service would (the model among the caller's teams, the version,
   the rows against the version's recorded signature) before anything loads a model: a request
   the service would refuse is refused, and logged as refused, without TensorFlow;
2. offers it to the workers of the default queue (``tasks.serve_prediction``), whose processes
   keep the models they served loaded, and waits ``wait`` seconds for one to take it;
3. otherwise predicts in this process.

Both sides answer through ``services.prediction_create``, as the API does. The offer and the
answer pass through the Django cache, which must then be shared (``CACHE_URL``): the worker
and the command each try to claim the request there (``cache.add``), and the first claim wins,
so a worker that takes the message after the command stopped waiting drops it, and a request
is never answered, nor logged, twice.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache

from hpml_portal.errors import ServiceError
from models_registry.selectors import DEFAULT_ALIAS

from . import logbook
from .models import PredictionLog
from .payloads import rows_from_payload
from .resolution import resolve_cached
from .runtime import InputError, ModelIntegrityError, Signature, parse_instances
from .services import PredictionLogger, prediction_create

# A worker that took a request may have to start TensorFlow and load the model first.
ANSWER_TIMEOUT = 120.0
KEPT_SECONDS = 600  # how long a claim and an answer stay in the cache
LONGEST_PAUSE = 0.05  # between two looks at the cache


@dataclass
class PredictRequest:
    """What the command asks, as plain JSON: it travels to a worker as a task's argument."""

    model_name: str
    payload: dict
    version: int | None = None
    alias: str | None = None
    team: str | None = None
    username: str | None = None  # None: the operator


def prediction_check(*, request: PredictRequest, user) -> None:
    """Raise what ``prediction_create`` would for a request it must refuse (``ServiceError``,
    ``InputError``), without loading the model: the version's recorded signature is the one the
    loaded model is checked against. A refused request is logged as the service logs it."""
    model_version = resolve_cached(
        request.model_name, request.version, request.alias, request.team, user, None
    )
    signature = Signature.from_dict(model_version.signature)
    rows = request.payload
    try:
        rows = rows_from_payload(request.payload, signature)
        parse_instances(rows, signature, max_batch=settings.PREDICT_MAX_BATCH)
    except InputError as exc:
        requested = (
            f"version:{request.version}"
            if request.version is not None
            else f"alias:{request.alias or DEFAULT_ALIAS}"
        )
        # The service's own logger: the same sampling and the same row as the API's refusals.
        log = PredictionLogger(model_version, requested, user, logbook.Served(request.model_name))
        log(
            PredictionLog.Outcome.REJECTED,
            error=str(exc),
            inputs=rows if isinstance(rows, list) else [],
        )
        raise


def prediction_reply(*, request: PredictRequest, user) -> dict:
    """The service's answer, ``{"answer": ...}``, or ``{"error": ...}``: why it refused."""
    try:
        result = prediction_create(
            model_name=request.model_name,
            payload=request.payload,
            version=request.version,
            alias=request.alias,
            team=request.team,
            user=user,
        )
    except (ServiceError, InputError, ModelIntegrityError) as exc:
        return {"error": str(exc)}
    return {"answer": result.answer()}


def prediction_offer(*, request: PredictRequest, wait: float, say: Callable[[str], None]):
    """A worker's reply to ``request``, or None when no worker took it within ``wait``
    seconds: the request is then this process's to answer. ``say`` hears why, in a line."""
    if wait <= 0:
        return None
    if not cache_is_shared():
        say("the cache is this process's own (CACHE_URL is unset): predicting in this process")
        return None
    request_id = uuid.uuid4().hex
    try:
        taken = _offer(request_id, request, wait)
    except Exception as exc:  # the broker or the cache is down: this process can still answer
        say(f"no worker could be asked ({type(exc).__name__}: {exc}): predicting in this process")
        return None
    if not taken:
        say(f"no worker took the prediction within {wait:g} s: predicting in this process")
        return None
    reply = _answer(request_id)
    say("answered by a worker of the default queue")
    return reply


def cache_is_shared() -> bool:
    return not isinstance(caches["default"], LocMemCache | DummyCache)


def _offer(request_id: str, request: PredictRequest, wait: float) -> bool:
    """Send the request, then wait for a worker's claim; True when a worker took it."""
    from .tasks import serve_prediction

    # Expired, the message is dropped by the worker that receives it, unrun.
    serve_prediction.apply_async((request_id, asdict(request)), expires=wait, retry=False)
    cache, claim = caches["default"], _key(request_id, "claim")
    if _poll(lambda: cache.get(claim), wait) is not None:
        return True
    # Too late for a worker: whichever side claims first answers, the other drops it.
    return not cache.add(claim, "command", KEPT_SECONDS)


def _answer(request_id: str) -> dict:
    cache, key = caches["default"], _key(request_id, "answer")
    reply = _poll(lambda: cache.get(key), ANSWER_TIMEOUT)
    if reply is None:
        return {"error": f"a worker took the prediction but did not answer in {ANSWER_TIMEOUT:g} s"}
    cache.delete_many([key, _key(request_id, "claim")])
    return reply


def _poll(fetch: Callable[[], object], seconds: float) -> object:
    """``fetch()``'s first value that is not None within ``seconds``, else None. Looked at
    every few milliseconds at first (a warm worker answers within ten), then less often."""
    deadline, pause = time.monotonic() + seconds, 0.002
    while True:
        found = fetch()
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 1.5, LONGEST_PAUSE)


def _key(request_id: str, what: str) -> str:
    return f"inference.cli:{request_id}:{what}"


def prediction_serve_offered(*, request_id: str, request: dict) -> None:
    """A worker's side of an offer: claim the request, answer it, leave the reply in the
    cache. A request the command has claimed (it stopped waiting) is left to it."""
    from accounts.selectors import user_get

    cache, answer = caches["default"], _key(request_id, "answer")
    if not cache.add(_key(request_id, "claim"), "worker", KEPT_SECONDS):
        return
    offered = PredictRequest(**request)
    try:
        user = user_get(offered.username) if offered.username else None
        reply = prediction_reply(request=offered, user=user)
    except ServiceError as exc:  # the user is gone, or no longer active
        reply = {"error": str(exc)}
    except Exception as exc:  # answered, so the command does not wait; raised for the log
        failed = f"the worker failed: {type(exc).__name__}: {exc}"
        cache.set(answer, {"error": failed}, KEPT_SECONDS)
        raise
    cache.set(answer, reply, KEPT_SECONDS)
