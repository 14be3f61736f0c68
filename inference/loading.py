"""The models this process serves: loaded once from storage, checked, kept in memory."""

import logging
import threading

from django.conf import settings

from hpml_portal import instruments
from hpml_portal.storage import local_copy
from models_registry.models import ModelVersion
from models_registry.services import model_version_record_integrity

logger = logging.getLogger(__name__)

_models = None  # the per-process ModelCache, made on first use (it imports NumPy and Keras)
_background: dict[int, list] = {}  # versions being loaded in the background: their callbacks
_background_lock = threading.Lock()


def _cache():
    global _models
    if _models is None:
        from .runtime import ModelCache

        _models = ModelCache(max_size=settings.MODEL_CACHE_SIZE)
    return _models


def _key(model_version: ModelVersion) -> str:
    return f"{model_version.pk}:{model_version.sha256}"


def is_loaded(model_version: ModelVersion) -> bool:
    return _key(model_version) in _cache()


def model_runtime_get(model_version: ModelVersion):
    """The loaded, verified and warmed model of a version (loaded once per process)."""
    return instruments.model_cache_get(
        _cache().get, _key(model_version), lambda: _load(model_version)
    )


def _load(model_version: ModelVersion):
    from .runtime import ModelIntegrityError, load_model_file

    try:
        with local_copy(model_version.artifact.name) as path:
            loaded = load_model_file(
                path, sha256=model_version.sha256, signature=model_version.signature
            )
    except FileNotFoundError as exc:  # the error names local paths: say which object
        cause, failure = (
            exc,
            ModelIntegrityError(
                f"the model cannot be served: its file {model_version.artifact.name} is "
                "missing from storage"
            ),
        )
    except ModelIntegrityError as exc:
        cause, failure = exc, ModelIntegrityError(f"the model cannot be served: {exc}")
    else:
        if model_version.integrity_error:
            model_version_record_integrity(version_id=model_version.pk, error="")
        return loaded
    # Recorded on the version, where the registry shows it, then answered (503).
    model_version_record_integrity(version_id=model_version.pk, error=str(failure))
    raise failure from cause


def load_in_background(model_version: ModelVersion, done) -> None:
    """Load a version on a thread of its own, then call ``done()`` (loaded or not: a failure
    is recorded on the version, and the request that uses it next answers it)."""
    with _background_lock:
        waiting = _background.get(model_version.pk)
        _background.setdefault(model_version.pk, []).append(done)
    if waiting is None:  # else the thread under way calls ``done`` too
        threading.Thread(
            target=_load_then, args=(model_version,), name="hpml-preload", daemon=True
        ).start()


def _load_then(model_version: ModelVersion) -> None:
    from django.db import connection

    try:
        model_runtime_get(model_version)
    except Exception:
        logger.warning("loading %s v%s failed", model_version.model.name, model_version.version)
    finally:
        with _background_lock:
            callbacks = _background.pop(model_version.pk, [])
        for done in callbacks:
            done()
        connection.close()
