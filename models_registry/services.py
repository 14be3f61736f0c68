"""Every write to registered models, their versions and aliases."""

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from accounts import access
from accounts.access import Capability
from accounts.models import AuditEvent, Team
from accounts.selectors import team_default
from accounts.services import audit_record
from hpml_portal.errors import InvalidRequest
from hpml_portal.validation import check_name

from .models import AliasEvent, ModelAlias, ModelVersion, RegisteredModel, alias_validator
from .selectors import DEFAULT_ALIAS

logger = logging.getLogger(__name__)


class RegistryError(InvalidRequest):
    """A registry request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class Artifact:
    """A trained model file already in storage."""

    name: str
    sha256: str
    size_bytes: int


def registered_model_validate_name(name: str) -> None:
    check_name("model", name, RegistryError)


def registered_model_describe(
    *, model: RegisteredModel, description: str, user=None
) -> RegisteredModel:
    access.require(user, model.team, Capability.WRITE, "describe models")
    model.description = description
    model.save(update_fields=["description"])
    return model


def model_version_register(
    *,
    model_name: str,
    team: Team | None = None,
    artifact: Artifact,
    signature: dict,
    metrics: dict,
    architecture: str = "",
    run=None,
    dataset_version=None,
    mlflow_run_id: str = "",
    mlflow_model_uri: str = "",
    user=None,
) -> ModelVersion:
    """Add the next version of ``team``'s ``model_name`` (the default team when None; the model
    is created on first use) for a stored artifact. Called by the training worker for a run
    whose submission was checked, so it checks no role.

    A model logged in an MLflow run (``mlflow_model_uri``) is registered in the MLflow
    registry after commit, so MLflow never holds a version that our registry does not. MLflow's
    names are global: the model is mirrored as ``team.name``.
    """
    registered_model_validate_name(model_name)
    team = team or team_default()
    with transaction.atomic():
        model, _ = RegisteredModel.objects.get_or_create(
            team=team,
            name=model_name,
            defaults={"created_by": user, "mlflow_name": f"{team.slug}.{model_name}"},
        )
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        latest = model.versions.aggregate(latest=Max("version"))["latest"] or 0
        version = ModelVersion.objects.create(
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
            mlflow_run_id=mlflow_run_id,
            mlflow_model_uri=mlflow_model_uri,
            created_by=user,
        )
        if mlflow_model_uri:
            transaction.on_commit(lambda: _queue("mirror_version", version.pk))
    return version


def model_alias_set(
    *, model_version: ModelVersion, alias: str, user=None, comment: str = ""
) -> AliasEvent | None:
    """Point ``alias`` at ``model_version``, with an audit row, in one transaction.

    Moving ``production`` needs the approver role in the model's team; other aliases need
    scientist. Returns the audit row, or None when the alias already pointed there (nothing
    changes). The MLflow registry alias follows after commit.
    """
    try:
        alias_validator(alias)
    except ValidationError as exc:
        raise RegistryError(f"invalid alias {alias!r}: {exc.messages[0]}") from exc
    team = model_version.model.team
    if alias == DEFAULT_ALIAS:
        access.require(user, team, Capability.PROMOTE, f"move {alias!r}")
    else:
        access.require(user, team, Capability.WRITE, "set aliases")
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
        audit_record(
            action=AuditEvent.Action.ALIAS_MOVED,
            actor=user,
            team=team,
            target=f"{model.name}@{alias}",
            detail={
                "from_version": current.version.version if current else None,
                "to_version": model_version.version,
                "comment": comment[:500],
            },
        )
        ModelAlias.objects.update_or_create(
            model=model, alias=alias, defaults={"version": model_version, "updated_by": user}
        )
        transaction.on_commit(lambda: _queue("mirror_alias", model.pk, alias))
    return event


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
    for alias in version.aliases.values_list("alias", flat=True):
        model_alias_mirror(model_id=version.model_id, alias=alias)
    return ModelVersion.objects.values_list("mlflow_version", flat=True).get(pk=version.pk)


def model_alias_mirror(*, model_id: int, alias: str) -> None:
    """Make the MLflow registry alias match ours (idempotent: reads the current state)."""
    from hpml_portal import mlflow_client

    model = RegisteredModel.objects.select_related("team").get(pk=model_id)
    current = ModelAlias.objects.filter(model=model, alias=alias).select_related("version").first()
    target = current.version.mlflow_version if current else ""
    mlflow_client.set_alias(_mlflow_name(model), alias, target or None)


def _mlflow_name(model: RegisteredModel) -> str:
    return model.mlflow_name or f"{model.team.slug}.{model.name}"
