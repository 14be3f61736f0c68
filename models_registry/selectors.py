"""Reads of the model registry."""

from django.db.models import Count, Max, Prefetch, QuerySet

from .models import AliasEvent, ModelAlias, ModelVersion, RegisteredModel

DEFAULT_ALIAS = "production"


class ModelNotFound(LookupError):
    """No such model or version (HTTP 404)."""


class AliasNotSet(LookupError):
    """The model exists but the alias points nowhere (HTTP 409)."""


def registered_model_list() -> QuerySet[RegisteredModel]:
    # Meta.ordering is ignored by aggregating queries: order explicitly so pages are stable.
    return (
        RegisteredModel.objects.order_by("name")
        .annotate(
            version_count=Count("versions", distinct=True),
            latest_version=Max("versions__version"),
        )
        .prefetch_related(
            Prefetch("aliases", queryset=ModelAlias.objects.select_related("version"))
        )
    )


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related(
        "model", "run", "dataset_version__dataset", "created_by"
    ).prefetch_related("aliases")


def alias_event_list() -> QuerySet[AliasEvent]:
    # The versions print as "model vN" in the admin: fetch their model with them.
    return AliasEvent.objects.select_related(
        "model", "from_version__model", "to_version__model", "user"
    )


def model_version_get(model_name: str, version: int) -> ModelVersion:
    found = model_version_list().filter(model__name=model_name, version=version).first()
    if found is None:
        if not RegisteredModel.objects.filter(name=model_name).exists():
            raise ModelNotFound(f"there is no model named {model_name!r}")
        raise ModelNotFound(f"model {model_name!r} has no version {version}")
    return found


def model_version_resolve(
    model_name: str, *, version: int | None = None, alias: str | None = None
) -> ModelVersion:
    """The version asked for by number, else by alias (``production`` when neither is given)."""
    if version is not None:
        return model_version_get(model_name, version)
    alias = alias or DEFAULT_ALIAS
    found = (
        ModelAlias.objects.select_related("version__model")
        .filter(model__name=model_name, alias=alias)
        .first()
    )
    if found is None:
        if not RegisteredModel.objects.filter(name=model_name).exists():
            raise ModelNotFound(f"there is no model named {model_name!r}")
        raise AliasNotSet(
            f"model {model_name!r} has no {alias!r} alias: promote a version to it first"
        )
    return found.version


def model_version_lineage(model_version: ModelVersion) -> dict:
    """Where a version came from: its training run and the chain of dataset versions."""
    run = model_version.run
    lineage = {
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
    dataset_version = model_version.dataset_version
    while dataset_version is not None:
        lineage["datasets"].append(
            {
                "id": dataset_version.pk,
                "ref": dataset_version.ref,
                "sha256": dataset_version.sha256,
                "source": dataset_version.source,
                "recipe": dataset_version.recipe,
            }
        )
        dataset_version = dataset_version.parent
    return lineage
