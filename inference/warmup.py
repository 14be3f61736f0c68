"""Loading the models that serve before a web process takes traffic.

A web process (``hpml_portal.wsgi``) starts ``start_in_background`` when it is imported: a
thread imports Keras, sets TensorFlow's thread pools to SERVE_TF_THREADS, and loads, verifies
and warms the versions that the aliases named in SERVE_PRELOAD_ALIASES point at, into this
process's model cache. ``/readyz`` answers 503 until that is done, so a load balancer sends no
request to a worker still loading (the first request would otherwise pay for the Keras import
and the load: seconds).
"""

import logging
import threading

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

_state = {"enabled": False, "done": False, "loaded": [], "failed": {}}
_lock = threading.Lock()


def begin() -> bool:
    """Mark this process as loading; False when there is nothing to load (no aliases set)."""
    with _lock:
        _state.update(enabled=bool(settings.SERVE_PRELOAD_ALIASES), done=False)
        _state.update(loaded=[], failed={})
        return _state["enabled"]


def start_in_background() -> None:
    preloading = begin()
    threading.Thread(target=_run, args=(preloading,), name="hpml-preload", daemon=True).start()


def _run(preloading: bool) -> None:
    from .runtime import limit_threads

    if settings.SERVE_TF_THREADS and not limit_threads(settings.SERVE_TF_THREADS):
        logger.warning("SERVE_TF_THREADS not applied: TensorFlow had started already")
    try:
        if preloading:
            preload()
    finally:
        connection.close()  # this thread's own


def preload() -> dict:
    """Load the versions the aliases in SERVE_PRELOAD_ALIASES point at, as many as
    MODEL_CACHE_SIZE keeps. A version that cannot be loaded is recorded and skipped: it answers
    503 when asked for, as before, and does not keep the process from serving the others."""
    from models_registry.models import ModelAlias

    from .loading import model_runtime_get

    # No more than the cache keeps: the most recently moved aliases first.
    aliases = (
        ModelAlias.objects.filter(alias__in=settings.SERVE_PRELOAD_ALIASES)
        .select_related("version__model__team")
        .order_by("-updated_at")[: settings.MODEL_CACHE_SIZE]
    )
    loaded, failed = [], {}
    for alias in aliases:
        version = alias.version
        label = f"{version.model.team.slug}/{version.model.name} v{version.version}"
        try:
            model_runtime_get(version)
            loaded.append(label)
        except Exception as exc:  # a bad file, a storage hiccup: that model waits for a request
            logger.exception("could not preload %s", label)
            failed[label] = f"{type(exc).__name__}: {exc}"[:300]
    with _lock:
        _state.update(done=True, loaded=loaded, failed=failed)
    logger.info("preloaded %d model version(s), %d failed", len(loaded), len(failed))
    return {"loaded": loaded, "failed": failed}


def failures() -> dict[str, str]:
    """The versions this process could not load at start, and why."""
    with _lock:
        return dict(_state["failed"])


def readiness() -> tuple[bool, str]:
    """(ready, what /readyz says about the models)."""
    with _lock:
        if not _state["enabled"]:
            return True, "not preloaded"
        if not _state["done"]:
            return False, "loading"
        failed = len(_state["failed"])
        return True, f"{len(_state['loaded'])} loaded" + (f", {failed} failed" if failed else "")
