"""Every write to registered models, their versions and aliases."""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts import access
from accounts.access import Capability
from accounts.models import AuditEvent, Team
from accounts.selectors import team_default
from accounts.services import audit_record
from hpml_portal.errors import Conflict, InvalidRequest
from hpml_portal.storage import download_with_digest
from hpml_portal.validation import check_name

from .mirror import (  # noqa: F401 (the mirror's services are called from here too)
    MAX_MIRROR_ATTEMPTS,
    MirrorNotReady,
    _queue,
    mirror_catch_up,
    mirror_failed,
    model_alias_mirror,
    model_version_mirror,
)
from .models import (
    AliasEvent,
    MirrorState,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    alias_validator,
)
from .selectors import DEFAULT_ALIAS

logger = logging.getLogger(__name__)


class RegistryError(InvalidRequest):
    """A registry request that cannot be carried out; the message says why."""


class VersionIsArchived(RegistryError, Conflict):
    """An archived version takes no alias (HTTP 409)."""

    http_status = 409


class VersionHoldsAliases(RegistryError, Conflict):
    """A version that aliases point at cannot be archived (HTTP 409)."""

    http_status = 409


@dataclass(frozen=True)
class Artifact:
    """A trained model file already in storage."""

    name: str
    sha256: str
    size_bytes: int


def registered_model_validate_name(name: str) -> None:
    check_name("model", name, RegistryError)


def registered_model_describe(
    *,
    model: RegisteredModel,
    description: str,
    log_sample_rate: float | None = None,
    user=None,
) -> RegisteredModel:
    """Set a model's description and the share of its prediction requests logged (None:
    the PREDICTION_LOG_SAMPLE_RATE setting)."""
    access.require(user, model.team, Capability.WRITE, "describe models")
    if log_sample_rate is not None and not 0.0 <= log_sample_rate <= 1.0:
        raise RegistryError(f"log_sample_rate must be from 0 to 1, got {log_sample_rate}")
    model.description = description
    model.log_sample_rate = log_sample_rate
    model.save(update_fields=["description", "log_sample_rate"])
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
    outputs, classes = signature.get("outputs"), signature.get("classes", [])
    if outputs is not None and outputs != len(classes):
        raise RegistryError(
            f"the model gives {outputs} outputs but its signature names {len(classes)} "
            "classes: not registered"
        )
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
            mirror_state=MirrorState.PENDING if mlflow_model_uri else MirrorState.NONE,
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
    if model_version.archived_at is not None:
        raise VersionIsArchived(
            f"version {model_version.version} of {model_version.model.name!r} is archived: "
            "restore it before pointing an alias at it"
        )
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
            model=model,
            alias=alias,
            defaults={
                "version": model_version,
                "updated_by": user,
                "mirror_state": MirrorState.PENDING,
                "mirror_error": "",
            },
        )
        transaction.on_commit(lambda: _queue("mirror_alias", model.pk, alias))
    return event


def model_alias_delete(
    *, model: RegisteredModel, alias: str, user=None, comment: str = ""
) -> AliasEvent | None:
    """Take ``alias`` off ``model``, with an audit row, in one transaction: callers asking
    for it are refused until it is set again. The roles are those that set it. Returns the
    audit row, or None when the model had no such alias. MLflow's alias follows after commit.
    """
    if alias == DEFAULT_ALIAS:
        access.require(user, model.team, Capability.PROMOTE, f"remove {alias!r}")
    else:
        access.require(user, model.team, Capability.WRITE, "remove aliases")
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        current = ModelAlias.objects.filter(model=locked, alias=alias).select_related("version")
        current = current.first()
        if current is None:
            return None
        event = AliasEvent.objects.create(
            model=locked,
            alias=alias,
            from_version=current.version,
            to_version=None,
            user=user,
            comment=comment,
        )
        audit_record(
            action=AuditEvent.Action.ALIAS_MOVED,
            actor=user,
            team=model.team,
            target=f"{locked.name}@{alias}",
            detail={
                "from_version": current.version.version,
                "to_version": None,
                "comment": comment[:500],
            },
        )
        current.delete()
        transaction.on_commit(lambda: _queue("mirror_alias", locked.pk, alias))
    return event


def model_version_archive(*, model_version: ModelVersion, user=None, comment: str = ""):
    """Archive a version: it keeps its row, lineage and history, but is never served and
    takes no alias. A version that an alias points at must be moved off first."""
    return _set_archived(model_version, user, comment, archive=True)


def model_version_restore(*, model_version: ModelVersion, user=None, comment: str = ""):
    """Bring an archived version back: it may be served and take aliases again."""
    return _set_archived(model_version, user, comment, archive=False)


def _set_archived(model_version: ModelVersion, user, comment: str, *, archive: bool):
    team = model_version.model.team
    access.require(user, team, Capability.WRITE, "archive versions")
    with transaction.atomic():
        # The model's row is what alias moves lock too: no alias lands on it meanwhile.
        RegisteredModel.objects.select_for_update().get(pk=model_version.model_id)
        locked = ModelVersion.objects.select_related("model").get(pk=model_version.pk)
        if (locked.archived_at is not None) == archive:
            return locked  # already so: nothing changes, nothing is recorded
        if archive:
            aliases = sorted(locked.aliases.values_list("alias", flat=True))
            if aliases:
                raise VersionHoldsAliases(
                    f"version {locked.version} of {locked.model.name!r} holds "
                    f"{', '.join(aliases)}: move those aliases to another version first"
                )
        locked.archived_at = timezone.now() if archive else None
        locked.archived_by = (
            user if archive and user is not None and user.is_authenticated else None
        )
        locked.save(update_fields=["archived_at", "archived_by"])
        audit_record(
            action=AuditEvent.Action.VERSION_ARCHIVED
            if archive
            else AuditEvent.Action.VERSION_RESTORED,
            actor=user,
            team=team,
            target=f"{locked.model.name} v{locked.version}",
            detail={"comment": comment[:500]},
        )
    return locked


def model_version_export(*, model_version: ModelVersion, folder: Path, user=None) -> list[Path]:
    """Write a version's ``model.keras`` (its sha256 checked) and ``signature.json`` into
    ``folder`` (made when missing). Refused, with nothing written, when either file is there
    already or the stored file does not match its sha256."""
    access.require(user, model_version.model.team, Capability.READ, "export models")
    folder.mkdir(parents=True, exist_ok=True)
    keras_file, signature_file = folder / "model.keras", folder / "signature.json"
    present = [path.name for path in (keras_file, signature_file) if path.exists()]
    if present:
        raise RegistryError(f"{folder} already holds {', '.join(present)}: export to a new folder")
    partial = folder / ".model.keras.partial"
    try:
        with open(partial, "wb") as out:
            digest, _ = download_with_digest(model_version.artifact.name, out)
        if digest != model_version.sha256:
            raise RegistryError(
                f"the stored file of {model_version} does not match its sha256 "
                f"({digest[:12]}… is not {model_version.sha256[:12]}…): not exported"
            )
        partial.rename(keras_file)
    finally:
        partial.unlink(missing_ok=True)
    description = {
        "model": model_version.model.name,
        "team": model_version.model.team.slug,
        "version": model_version.version,
        "sha256": model_version.sha256,
        **model_version.signature,
    }
    signature_file.write_text(json.dumps(description, indent=2) + "\n")
    return [keras_file, signature_file]


def model_version_record_integrity(*, version_id: int, error: str) -> None:
    """Record why a version's stored file could not be served (empty: it loaded), so the
    registry shows it before anyone asks for that version again."""
    ModelVersion.objects.filter(pk=version_id).exclude(integrity_error=error[:2000]).update(
        integrity_error=error[:2000]
    )
