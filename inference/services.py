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
from hpml_portal.errors import Conflict, InvalidRequest
from models_registry.models import ModelVersion
from models_registry.selectors import DEFAULT_ALIAS, ModelNotFound

from . import logbook
from .loading import model_runtime_get
from .models import PredictionFeedback, PredictionLog
from .resolution import resolve, resolve_cached

# How many instances of a request a PredictionLog keeps, and at most how much JSON.
LOGGED_INSTANCES = 5
MAX_LOGGED_SAMPLE_CHARS = 64 * 1024


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


def prediction_create(
    *,
    model_name: str,
    payload: object,
    version: int | None = None,
    alias: str | None = None,
    team: str | None = None,
    user=None,
    token: ApiToken | None = None,
    served: logbook.Served | None = None,
) -> Prediction:
    """Predict with a model version (``production`` unless a version or alias is named) on
    the rows of ``payload``, in any format ``payloads.rows_from_payload`` reads.

    The model is found among ``user``'s teams (``team`` when several have one of that name);
    any role there may predict. A token limited to some models may predict with those only.
    Raises ``ModelNotFound``, ``AliasNotSet``, ``AccessDenied`` or ``runtime.InputError``; a
    rejected request is logged (when sampled) as rejected, never as a success. ``served`` is
    filled in with what the request counts need (the version, the instances).
    """
    from .payloads import rows_from_payload
    from .runtime import InputError, parse_instances

    served = served or logbook.Served(model_name)
    model_version = resolve_cached(model_name, version, alias, team, user, token, served)
    served.team_key, served.version = model_version.model.team_id, model_version.version
    requested = f"version:{version}" if version is not None else f"alias:{alias or DEFAULT_ALIAS}"
    loaded = model_runtime_get(model_version)
    started = time.perf_counter()
    instances = payload
    log = PredictionLogger(model_version, requested, user, served)
    try:
        instances = rows_from_payload(payload, loaded.signature)
        batch = parse_instances(instances, loaded.signature, max_batch=settings.PREDICT_MAX_BATCH)
    except InputError as exc:
        rows = instances if isinstance(instances, list) else []
        log(PredictionLog.Outcome.REJECTED, error=str(exc), inputs=rows)
        raise
    labels, probabilities = loaded.predict(batch)
    served.instances = len(labels)
    logged = log(
        PredictionLog.Outcome.OK,
        inputs=instances,
        predictions=labels,
        latency_ms=(time.perf_counter() - started) * 1000,
    )
    return Prediction(
        model=model_version.model.name,
        version=model_version.version,
        predictions=labels,
        probabilities=probabilities.astype("float64").round(6).tolist(),
        id=logged,
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
    model_version = resolve(model_name, version, alias, team, user, token)
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


def _loggable(sample: list) -> list:
    """The sample, or nothing when it cannot or should not be stored: a rejected request may
    carry infinities (JSON 1e400), which a JSON column refuses, or rows of any size."""
    try:
        size = len(json.dumps(sample, allow_nan=False))
    except ValueError:
        return []
    return sample if size <= MAX_LOGGED_SAMPLE_CHARS else []


@dataclass
class PredictionLogger:
    """Logs a sampled share of a version's requests (its model's rate, else the setting's)."""

    model_version: ModelVersion
    requested: str
    user: object
    served: logbook.Served

    def __call__(self, outcome, *, inputs, predictions=(), latency_ms=None, error="") -> int | None:
        """The log row's id, or None when this request is not logged."""
        rate = self.model_version.model.log_sample_rate
        if random.random() >= (settings.PREDICTION_LOG_SAMPLE_RATE if rate is None else rate):
            return None
        row = PredictionLog(
            model_version=self.model_version,
            model_name=self.model_version.model.name,
            requested=self.requested,
            outcome=outcome,
            instances=len(predictions),
            latency_ms=latency_ms,
            inputs_sample=_loggable(list(inputs[:LOGGED_INSTANCES])),
            predictions_sample=list(predictions[:LOGGED_INSTANCES]),
            predictions=list(predictions),
            error=error[:2000],
            user_id=self.user.pk if self.user is not None and self.user.is_authenticated else None,
        )
        if not logbook.writer.log(row):
            self.served.log_dropped = True
            return None
        return row.pk


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
