"""Every write to registered models, their versions and aliases."""

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.db.models import Max

from .models import AliasEvent, ModelAlias, ModelVersion, RegisteredModel, alias_validator

logger = logging.getLogger(__name__)


class RegistryError(ValueError):
    """A registry request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class Artifact:
    """A trained model file already in storage."""

    name: str
    sha256: str
    size_bytes: int


def registered_model_validate_name(name: str) -> None:
    try:
        validate_slug(name)
    except ValidationError as exc:
        raise RegistryError(
            f"invalid model name {name!r}: use letters, numbers, hyphens and underscores"
        ) from exc


def model_version_register(
    *,
    model_name: str,
    artifact: Artifact,
    signature: dict,
    metrics: dict,
    architecture: str = "",
    run=None,
    dataset_version=None,
    mlflow_version: str = "",
    mlflow_run_id: str = "",
    user=None,
) -> ModelVersion:
    """Add the next version of ``model_name`` (created on first use) for a stored artifact."""
    registered_model_validate_name(model_name)
    with transaction.atomic():
        model, _ = RegisteredModel.objects.get_or_create(
            name=model_name, defaults={"created_by": user}
        )
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        latest = model.versions.aggregate(latest=Max("version"))["latest"] or 0
        return ModelVersion.objects.create(
            model=model,
            version=latest + 1,
            run=run,
            dataset_version=dataset_version,
            architecture=architecture,
            artifact=artifact.name,
            sha256=artifact.sha256,
            size_bytes=artifact.size_bytes,
            signature=signature,
            metrics=metrics,
            mlflow_version=mlflow_version,
            mlflow_run_id=mlflow_run_id,
            created_by=user,
        )


def model_alias_set(
    *, model_version: ModelVersion, alias: str, user=None, comment: str = ""
) -> AliasEvent | None:
    """Point ``alias`` at ``model_version``, with an audit row, in one transaction.

    Returns the audit row, or None when the alias already pointed there (nothing changes).
    The MLflow registry alias follows after commit.
    """
    try:
        alias_validator(alias)
    except ValidationError as exc:
        raise RegistryError(f"invalid alias {alias!r}: {exc.messages[0]}") from exc
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=model_version.model_id)
        current = ModelAlias.objects.filter(model=model, alias=alias).first()
        if current is not None and current.version_id == model_version.pk:
            return None
        event = AliasEvent.objects.create(
            model=model,
            alias=alias,
            from_version=current.version if current else None,
            to_version=model_version,
            user=user,
            comment=comment,
        )
        ModelAlias.objects.update_or_create(
            model=model, alias=alias, defaults={"version": model_version, "updated_by": user}
        )
        transaction.on_commit(lambda: _mirror(model.pk, alias))
    return event


def _mirror(model_id: int, alias: str) -> None:
    from .tasks import mirror_alias

    try:
        mirror_alias.delay(model_id, alias)
    except Exception:  # the registry itself is right; the mirror catches up on the next change
        logger.exception("could not queue the MLflow alias mirror for model %s@%s", model_id, alias)


def model_alias_mirror(*, model_id: int, alias: str) -> None:
    """Make the MLflow registry alias match ours (idempotent: reads the current state)."""
    from hpml_portal import mlflow_client

    model = RegisteredModel.objects.get(pk=model_id)
    current = ModelAlias.objects.filter(model=model, alias=alias).select_related("version").first()
    target = current.version.mlflow_version if current else ""
    mlflow_client.set_alias(model.name, alias, target or None)
