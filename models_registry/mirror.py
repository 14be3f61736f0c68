"""The copy of our registry in MLflow's: versions and aliases mirrored by tasks after commit,
and caught up by the beat when a message was lost (the broker was down) or retries ran out."""

import logging
from datetime import timedelta

from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from .models import AliasEvent, MirrorState, ModelAlias, ModelVersion, RegisteredModel

logger = logging.getLogger(__name__)


class MirrorNotReady(RuntimeError):
    """An alias cannot be mirrored before its version is; the task tries again."""


def _queue(task_name: str, *args) -> None:
    from . import tasks

    try:
        getattr(tasks, task_name).delay(*args)
    except Exception:  # our registry is right; the MLflow mirror catches up on the next change
        logger.exception("could not queue %s%s", task_name, args)


def model_version_mirror(*, version_id: int) -> str:
    """Register a version in the MLflow registry once (idempotent), then bring the MLflow
    aliases that point at it up to date. Returns the MLflow version."""
    from hpml_portal import mlflow_client

    version = ModelVersion.objects.select_related("model__team").get(pk=version_id)
    if not version.mlflow_version and version.mlflow_model_uri:
        mlflow_version = mlflow_client.register_model(
            version.mlflow_model_uri, _mlflow_name(version.model)
        )
        ModelVersion.objects.filter(pk=version.pk, mlflow_version="").update(
            mlflow_version=mlflow_version
        )
    if version.mlflow_model_uri:
        ModelVersion.objects.filter(pk=version.pk).update(
            mirror_state=MirrorState.OK, mirror_error=""
        )
    for alias in version.aliases.values_list("alias", flat=True):
        model_alias_mirror(model_id=version.model_id, alias=alias)
    return ModelVersion.objects.values_list("mlflow_version", flat=True).get(pk=version.pk)


def mirror_failed(
    *, version_id: int | None = None, alias: tuple[int, str] | None = None, error: str, final: bool
) -> None:
    """Record a failed attempt to mirror a version or an alias (``(model_id, alias)``): its
    error, and FAILED once its task has no retries left (the catch-up task tries again)."""
    state = MirrorState.FAILED if final else MirrorState.PENDING
    if version_id is not None:
        ModelVersion.objects.filter(pk=version_id).update(
            mirror_state=state, mirror_error=error[:2000], mirror_attempts=F("mirror_attempts") + 1
        )
    if alias is not None:
        ModelAlias.objects.filter(model_id=alias[0], alias=alias[1]).update(
            mirror_state=state, mirror_error=error[:2000]
        )


# A version whose mirror failed this often stays FAILED, its last error showing why, for an
# operator to look at: the catch-up stops sending it.
MAX_MIRROR_ATTEMPTS = 60


# How long after an alias was removed the catch-up still makes sure MLflow has dropped it.
REMOVAL_CATCH_UP = timedelta(days=1)


def mirror_catch_up(*, older_than: timedelta) -> list[str]:
    """Queue again every mirror still PENDING or FAILED a while after it changed: its message
    was lost (the broker was down) or its retries ran out; and make MLflow drop the aliases
    removed in the last day (see ``_catch_up_removals``). Returns what was done."""
    cutoff = timezone.now() - older_than
    unsettled = [MirrorState.PENDING, MirrorState.FAILED]
    queued = []
    for pk in ModelVersion.objects.filter(
        mirror_state__in=unsettled, created_at__lt=cutoff, mirror_attempts__lt=MAX_MIRROR_ATTEMPTS
    ).values_list("pk", flat=True):
        _queue("mirror_version", pk)
        queued.append(f"version {pk}")
    for model_id, alias in ModelAlias.objects.filter(
        mirror_state__in=unsettled, updated_at__lt=cutoff
    ).values_list("model_id", "alias"):
        _queue("mirror_alias", model_id, alias)
        queued.append(f"alias {model_id}@{alias}")
    return queued + _catch_up_removals(cutoff)


def _catch_up_removals(cutoff) -> list[str]:
    """A removed alias has no row left to say its mirror is pending: its message lost while
    the broker was down would leave MLflow pointing at the version. Every alias whose last
    event (older than ``cutoff``, within ``REMOVAL_CATCH_UP``) removed it is mirrored once
    more, here on the catch-up's worker: one idempotent MLflow call, which reads the state
    now (an alias set again since is set, not removed)."""
    latest: dict[tuple[int, str], AliasEvent] = {}  # the newest event of each alias
    for event in AliasEvent.objects.filter(created_at__gte=cutoff - REMOVAL_CATCH_UP).order_by(
        "created_at", "id"
    ):
        latest[(event.model_id, event.alias)] = event
    removals = [
        event
        for event in latest.values()
        if event.to_version_id is None and event.created_at < cutoff
    ]
    done = []
    for event in removals:
        model_id, alias, key = event.model_id, event.alias, f"hpml:alias-removal:{event.pk}"
        if _remembered(key) or ModelAlias.objects.filter(model_id=model_id, alias=alias).exists():
            continue  # caught up already, or set again since (its row's mirror state covers it)
        try:
            model_alias_mirror(model_id=model_id, alias=alias)
        except Exception:  # MLflow is down: the next round tries again
            logger.exception("could not remove alias %s of model %s in MLflow", alias, model_id)
            continue
        _remember(key, REMOVAL_CATCH_UP * 2)
        done.append(f"removed alias {model_id}@{alias}")
    return done


# Which removals were caught up, kept in the cache (shared with CACHE_URL) so that each one is
# mirrored once by the rounds, not every five minutes for a day. A cache that cannot be reached
# only costs the same idempotent call again.
def _remembered(key: str) -> bool:
    try:
        return bool(cache.get(key))
    except Exception:
        return False


def _remember(key: str, timeout: timedelta) -> None:
    try:
        cache.set(key, True, timeout=timeout.total_seconds())
    except Exception:
        logger.warning("could not note in the cache that %s was caught up", key)


def model_alias_mirror(*, model_id: int, alias: str) -> None:
    """Make the MLflow registry alias match ours (idempotent: reads the current state)."""
    from hpml_portal import mlflow_client

    model = RegisteredModel.objects.select_related("team").get(pk=model_id)
    current = ModelAlias.objects.filter(model=model, alias=alias).select_related("version").first()
    target = current.version.mlflow_version if current else ""
    if current is not None and not target and current.version.mlflow_model_uri:
        # The version is not in MLflow's registry yet: its own mirror sets this alias after.
        raise MirrorNotReady(f"{model.name} v{current.version.version} is not mirrored yet")
    mlflow_client.set_alias(_mlflow_name(model), alias, target or None)
    if current is not None:
        ModelAlias.objects.filter(pk=current.pk).update(
            mirror_state=MirrorState.OK, mirror_error=""
        )


def _mlflow_name(model: RegisteredModel) -> str:
    return model.mlflow_name or f"{model.team.slug}.{model.name}"
