"""Predictions: resolve the version, get the cached model, validate, run, log a sample."""

import json
import math
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts import access
from accounts.access import Capability
from accounts.models import ApiToken
from accounts.selectors import AmbiguousName
from hpml_portal.errors import Conflict, InvalidRequest
from hpml_portal.storage import local_copy
from models_registry.models import ModelVersion
from models_registry.selectors import (
    DEFAULT_ALIAS,
    ModelNotFound,
    model_version_resolve,
    registered_model_get,
)
from models_registry.services import model_version_record_integrity

from .models import PredictionFeedback, PredictionLog

# How many instances of a request a PredictionLog keeps, and at most how much JSON.
LOGGED_INSTANCES = 5
MAX_LOGGED_SAMPLE_CHARS = 64 * 1024

_models = None  # the per-process ModelCache, made on first use (it imports NumPy and Keras)


@dataclass
class Prediction:
    model: str
    version: int
    predictions: list
    probabilities: list
    id: int | None = None  # the prediction log's, when this request was logged

    def answer(self) -> dict:
        """The API's answer: ``id`` only when the request was logged (feedback needs it)."""
        body = {k: v for k, v in self.__dict__.items() if k != "id"}
        return body if self.id is None else {**body, "id": self.id}


class FeedbackError(InvalidRequest):
    """Feedback that cannot be recorded; the message says why."""


class FeedbackGiven(FeedbackError, Conflict):
    """A prediction takes feedback once (HTTP 409)."""

    http_status = 409


def _cache():
    global _models
    if _models is None:
        from .runtime import ModelCache

        _models = ModelCache(max_size=settings.MODEL_CACHE_SIZE)
    return _models


def model_runtime_get(model_version: ModelVersion):
    """The loaded, verified and warmed model of a version (loaded once per process)."""
    from .runtime import ModelIntegrityError, load_model_file

    def load():
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

    return _cache().get(f"{model_version.pk}:{model_version.sha256}", load)


def prediction_create(
    *,
    model_name: str,
    payload: object,
    version: int | None = None,
    alias: str | None = None,
    team: str | None = None,
    user=None,
    token: ApiToken | None = None,
) -> Prediction:
    """Predict with a model version (``production`` unless a version or alias is named) on
    the rows of ``payload``, in any format ``payloads.rows_from_payload`` reads.

    The model is found among ``user``'s teams (``team`` when several have one of that name);
    any role there may predict. A token limited to some models may predict with those only.
    Raises ``ModelNotFound``, ``AliasNotSet``, ``AccessDenied`` or ``runtime.InputError``; a
    rejected request is logged (when sampled) as rejected, never as a success.
    """
    from .payloads import rows_from_payload
    from .runtime import InputError, parse_instances

    model_version = _resolve(model_name, version, alias, team, user, token)
    requested = f"version:{version}" if version is not None else f"alias:{alias or DEFAULT_ALIAS}"
    loaded = model_runtime_get(model_version)
    started = time.perf_counter()
    instances = payload
    try:
        instances = rows_from_payload(payload, loaded.signature)
        batch = parse_instances(instances, loaded.signature, max_batch=settings.PREDICT_MAX_BATCH)
    except InputError as exc:
        _log(
            model_version,
            requested,
            PredictionLog.Outcome.REJECTED,
            user,
            error=str(exc),
            inputs=instances if isinstance(instances, list) else [],
        )
        raise
    labels, probabilities = loaded.predict(batch)
    latency_ms = (time.perf_counter() - started) * 1000
    logged = _log(
        model_version,
        requested,
        PredictionLog.Outcome.OK,
        user,
        inputs=instances,
        predictions=labels,
        count=len(labels),
        latency_ms=latency_ms,
    )
    return Prediction(
        model=model_version.model.name,
        version=model_version.version,
        predictions=labels,
        probabilities=probabilities.astype("float64").round(6).tolist(),
        id=logged.pk if logged is not None else None,
    )


def prediction_describe(
    *,
    model_name: str,
    version: int | None = None,
    alias: str | None = None,
    team: str | None = None,
    user=None,
    token: ApiToken | None = None,
) -> dict:
    """What a caller may predict with, resolved as a prediction would be: the model, the
    version (and the alias that chose it), its input signature and a body ready to send."""
    model_version = _resolve(model_name, version, alias, team, user, token)
    signature = model_version.signature
    shown = ("input_shape", "input_dtype", "classes", "feature_names")
    return {
        "model": model_version.model.name,
        "team": model_version.model.team.slug,
        "alias": None if version is not None else alias or DEFAULT_ALIAS,
        "version": model_version.version,
        "signature": {key: signature[key] for key in shown if key in signature},
        "example": {"instances": [_example_row(model_version)]},
    }


def _example_row(model_version: ModelVersion) -> list:
    """The first row of the data the model learnt from, when its preview holds all of it;
    else zeros. Flat: the model takes rows flat or nested."""
    from datasets.selectors import dataset_version_ancestors

    size = math.prod(model_version.signature["input_shape"])
    source = model_version.dataset_version
    if source is not None:
        raw = [source, *dataset_version_ancestors(source)][-1]
        preview = raw.preview or {}
        first = (preview.get("rows") or [None])[0]
        complete = first and not preview.get("omitted_columns") and len(first) == size
        if complete and all(type(v) in (int, float) for v in first):
            return first
    return [0.0] * size


def _resolve(model_name, version, alias, team, user, token) -> ModelVersion:
    """The version a request names, once the caller (and its token) may predict with it."""
    if token is not None and token.predict_only:
        team = _team_the_token_allows(token, model_name, team)
    model = registered_model_get(user=user, name=model_name, team=team)
    access.require(user, model.team, Capability.PREDICT, "predict")
    return model_version_resolve(model, version=version, alias=alias)


def _team_the_token_allows(token: ApiToken, model_name: str, team: str | None) -> str:
    """The team of ``model_name`` among the models a predict-only token names. Any other model
    reads as missing, so the token tells nothing of the rest of its user's models or teams."""
    teams = [
        ref.partition("/")[0] for ref in token.predict_models if ref.endswith(f"/{model_name}")
    ]
    if team is not None:
        teams = [t for t in teams if t == team]
    if len(teams) != 1:
        if not teams:
            raise ModelNotFound(f"there is no model named {model_name!r}")
        raise AmbiguousName(
            f"this token may predict with {model_name!r} in several teams ({', '.join(teams)}): "
            "say which with ?team="
        )
    return teams[0]


def _loggable(sample: list) -> list:
    """The sample, or nothing when it cannot or should not be stored: a rejected request may
    carry infinities (JSON 1e400), which a JSON column refuses, or rows of any size."""
    try:
        size = len(json.dumps(sample, allow_nan=False))
    except ValueError:
        return []
    return sample if size <= MAX_LOGGED_SAMPLE_CHARS else []


def _log(
    model_version,
    requested,
    outcome,
    user,
    *,
    inputs,
    predictions=(),
    count=0,
    latency_ms=None,
    error="",
) -> PredictionLog | None:
    rate = model_version.model.log_sample_rate
    if random.random() >= (settings.PREDICTION_LOG_SAMPLE_RATE if rate is None else rate):
        return None
    return PredictionLog.objects.create(
        model_version=model_version,
        model_name=model_version.model.name,
        requested=requested,
        outcome=outcome,
        instances=count,
        latency_ms=latency_ms,
        inputs_sample=_loggable(list(inputs[:LOGGED_INSTANCES])),
        predictions_sample=list(predictions[:LOGGED_INSTANCES]),
        predictions=list(predictions),
        error=error[:2000],
        user=user if user is not None and user.is_authenticated else None,
    )


def feedback_record(
    *, prediction: PredictionLog, labels: object, user=None, token: ApiToken | None = None
) -> PredictionFeedback:
    """Record the true labels of a logged, successful prediction, once: one label per
    instance, each one of the model's classes. Whoever may predict with the model may."""
    model = prediction.model_version.model if prediction.model_version else None
    if model is None:
        raise FeedbackError(f"prediction {prediction.pk} has no model version left to score")
    access.require(user, model.team, Capability.PREDICT, "give feedback")
    limited = token is not None and token.predict_only
    if limited and f"{model.team.slug}/{model.name}" not in token.predict_models:
        raise ModelNotFound(f"there is no prediction {prediction.pk}")
    if prediction.outcome != PredictionLog.Outcome.OK:
        raise FeedbackError(f"prediction {prediction.pk} was refused: there is nothing to score")
    classes = prediction.model_version.signature.get("classes", [])
    if not isinstance(labels, list) or len(labels) != len(prediction.predictions):
        raise FeedbackError(
            f"give one label per instance: prediction {prediction.pk} had "
            f"{len(prediction.predictions)}, got "
            + (f"{len(labels)}" if isinstance(labels, list) else type(labels).__name__)
        )
    for index, label in enumerate(labels):
        if isinstance(label, bool) or label not in classes:
            raise FeedbackError(
                f"labels[{index}]: {label!r} is not one of the model's classes "
                f"({', '.join(map(repr, classes[:10]))}{', ...' if len(classes) > 10 else ''})"
            )
    correct = sum(p == t for p, t in zip(prediction.predictions, labels, strict=True))
    try:
        with transaction.atomic():
            return PredictionFeedback.objects.create(
                prediction=prediction,
                labels=labels,
                correct=correct,
                total=len(labels),
                user=user if user is not None and user.is_authenticated else None,
            )
    except IntegrityError:
        raise FeedbackGiven(f"prediction {prediction.pk} already has feedback") from None
