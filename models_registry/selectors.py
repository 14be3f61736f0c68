"""Reads of the model registry, scoped to what the caller's teams hold."""

from django.db.models import Count, Max, Prefetch, QuerySet

from accounts import access
from accounts.access import Capability
from accounts.selectors import one_by_name
from hpml_portal.errors import Conflict, NotFound
from hpml_portal.lineage import ancestor_ids

from .models import AliasEvent, ModelAlias, ModelVersion, RegisteredModel

DEFAULT_ALIAS = "production"


class ModelNotFound(NotFound):
    """No such model or version among the caller's (HTTP 404)."""


class AliasNotSet(Conflict, LookupError):
    """The model exists but the alias points nowhere (HTTP 409)."""


class VersionArchived(Conflict):
    """The version asked for is archived: it is never served (HTTP 409)."""


def registered_model_list(
    *, user, capability: Capability | None = Capability.READ
) -> QuerySet[RegisteredModel]:
    # Meta.ordering is ignored by aggregating queries: order explicitly so pages are stable.
    models = (
        RegisteredModel.objects.select_related("team")
        .order_by("name", "team__slug")
        .annotate(
            version_count=Count("versions", distinct=True),
            latest_version=Max("versions__version"),
        )
        .prefetch_related(
            Prefetch("aliases", queryset=ModelAlias.objects.select_related("version"))
        )
    )
    return access.scope(models, user, "team", capability)


def registered_model_get(*, user, name: str, team: str | None = None) -> RegisteredModel:
    """The model called ``name`` among the caller's teams (``team`` when several have one)."""
    models = access.scope(RegisteredModel.objects.all(), user, "team", None)
    return one_by_name(models, name=name, team=team, kind="model", not_found=ModelNotFound)


def model_version_list(
    *, user, capability: Capability | None = Capability.READ
) -> QuerySet[ModelVersion]:
    versions = ModelVersion.objects.select_related(
        "model__team", "run", "dataset_version__dataset", "created_by", "archived_by"
    ).prefetch_related("aliases")
    return access.scope(versions, user, ModelVersion.TEAM_PATH, capability)


def alias_event_list(
    *, user, capability: Capability | None = Capability.READ
) -> QuerySet[AliasEvent]:
    # The versions print as "model vN" in the admin: fetch their model with them.
    events = AliasEvent.objects.select_related(
        "model__team", "from_version__model", "to_version__model", "user"
    )
    return access.scope(events, user, AliasEvent.TEAM_PATH, capability)


def model_version_get(model: RegisteredModel, version: int) -> ModelVersion:
    """Version ``version`` of a model the caller has already been allowed to see."""
    found = model_version_list(user=None).filter(model=model, version=version).first()
    if found is None:
        raise ModelNotFound(f"model {model.name!r} has no version {version}")
    return found


def model_version_resolve(
    model: RegisteredModel, *, version: int | None = None, alias: str | None = None
) -> ModelVersion:
    """The version asked for by number, else by alias (``production`` when neither is given)."""
    if version is not None:
        found = model_version_get(model, version)
        if found.archived_at is not None:
            raise VersionArchived(
                f"version {version} of model {model.name!r} is archived: it is not served"
            )
        return found
    alias = alias or DEFAULT_ALIAS
    found = (
        ModelAlias.objects.select_related("version__model__team")
        .filter(model=model, alias=alias)
        .first()
    )
    if found is None:
        raise AliasNotSet(
            f"model {model.name!r} has no {alias!r} alias: promote a version to it first"
        )
    return found.version


def model_version_lineage(model_version: ModelVersion) -> dict:
    """Where a version came from: its training run and the chain of dataset versions."""
    run = model_version.run
    lineage = {
        "team": model_version.model.team.slug,
        "model": model_version.model.name,
        "version": model_version.version,
        "sha256": model_version.sha256,
        "mlflow_version": model_version.mlflow_version,
        "training_run": None,
        "datasets": [],
    }
    if run is not None:
        lineage["training_run"] = {
            "id": run.pk,
            "experiment": run.experiment.name,
            "status": run.status,
            "architecture": run.architecture,
            "hyperparameters": run.hyperparameters,
            "mlflow_run_id": run.mlflow_run_id,
        }
    first = model_version.dataset_version
    if first is None:
        return lineage
    # The whole chain of dataset versions in two queries, however long it is.
    versions = type(first)
    ids = [first.pk, *ancestor_ids(versions, first.pk)]
    rows = versions.objects.select_related("dataset").in_bulk(ids)
    lineage["datasets"] = [
        {
            "id": pk,
            "ref": rows[pk].ref,
            "sha256": rows[pk].sha256,
            "source": rows[pk].source,
            "recipe": rows[pk].recipe,
        }
        for pk in ids
        if pk in rows
    ]
    return lineage


# Versions one comparison may hold.
MAX_COMPARED = 10


def model_version_compare(versions: list[ModelVersion]) -> dict:
    """Versions side by side: every number in their metrics (per-class tables and the
    confusion matrix are left on the versions), their hyperparameters, architecture and data.
    ``values`` follow the order of ``versions``; None where a version has no such entry."""

    def rows(tables: list[dict]) -> list[dict]:
        names = sorted(
            {name for table in tables for name, value in table.items() if _scalar(value)}
        )
        return [
            {
                "name": name,
                "values": [t.get(name) if _scalar(t.get(name)) else None for t in tables],
            }
            for name in names
        ]

    return {
        "model": versions[0].model.name if versions else None,
        "versions": [v.version for v in versions],
        "architecture": [v.architecture for v in versions],
        "dataset": [v.dataset_version.ref if v.dataset_version else None for v in versions],
        "aliases": [sorted(a.alias for a in v.aliases.all()) for v in versions],
        "metrics": rows([v.metrics for v in versions]),
        "hyperparameters": rows([v.run.hyperparameters if v.run else {} for v in versions]),
    }


def _scalar(value) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)
