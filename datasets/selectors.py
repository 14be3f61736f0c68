"""Reads of datasets and their versions, scoped to what the caller's teams hold."""

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.storage import default_storage
from django.db.models import Count, QuerySet

from accounts import access
from accounts.access import Capability
from accounts.selectors import one_by_name
from hpml_portal.errors import NotFound, Unavailable
from hpml_portal.lineage import ancestor_ids, descendant_ids

from .models import Dataset, DatasetVersion


class DatasetNotFound(NotFound):
    """No dataset version answers a reference among the caller's; the message says which."""


def dataset_list(*, user, capability: Capability | None = Capability.READ) -> QuerySet[Dataset]:
    datasets = (
        Dataset.objects.select_related("team")
        .annotate(version_count=Count("versions"))
        .order_by("team__slug", "name")
    )
    return access.scope(datasets, user, "team", capability)


def dataset_version_list(
    *, user, capability: Capability | None = Capability.READ
) -> QuerySet[DatasetVersion]:
    versions = DatasetVersion.objects.select_related(
        "dataset__team", "parent__dataset", "created_by"
    )
    return access.scope(versions, user, DatasetVersion.TEAM_PATH, capability)


def dataset_get(*, user, name: str, team: str | None = None) -> Dataset:
    """The dataset called ``name`` among the caller's teams (``team`` when several have one)."""
    return one_by_name(
        dataset_list(user=user), name=name, team=team, kind="dataset", not_found=DatasetNotFound
    )


def dataset_version_resolve(ref: str, *, user, team: str | None = None) -> DatasetVersion:
    """Find ``NAME:VERSION``, or the newest READY version of ``NAME``, among the caller's."""
    name, sep, number = ref.partition(":")
    if sep and not number.isdecimal():
        raise DatasetNotFound(f"invalid dataset reference {ref!r}: use NAME or NAME:VERSION")
    dataset = dataset_get(user=user, name=name, team=team)
    versions = dataset_version_list(user=user).filter(dataset=dataset)
    if sep:
        version = versions.filter(version=int(number)).first()
        if version is None:
            raise DatasetNotFound(f"dataset {name!r} has no version {number}")
        return version
    version = versions.filter(status=DatasetVersion.Status.READY).order_by("-version").first()
    if version is None:
        raise DatasetNotFound(f"dataset {name!r} has no READY version")
    return version


def dataset_version_thumbnails(version: DatasetVersion) -> bytes:
    """The PNG of a version's first samples (a few hundred KB at most). 404 when it has none
    or the object is gone from storage, 503 when storage cannot be reached."""
    if not version.thumbnails:
        raise DatasetNotFound(f"{version.ref} has no thumbnails (its features are not images)")
    try:
        with default_storage.open(version.thumbnails, "rb") as stored:
            return stored.read()
    except FileNotFoundError as exc:
        raise DatasetNotFound(f"the thumbnails of {version.ref} are gone from storage") from exc
    except (OSError, BotoCoreError, ClientError) as exc:
        raise Unavailable(f"storage cannot be read now: {exc}") from exc


def dataset_version_ancestors(version: DatasetVersion) -> list[DatasetVersion]:
    """Parent, grandparent, ... of a version, nearest first, in two queries."""
    ids = ancestor_ids(DatasetVersion, version.pk)
    rows = DatasetVersion.objects.select_related("dataset").in_bulk(ids)
    return [rows[pk] for pk in ids if pk in rows]


def dataset_version_transforms(version: DatasetVersion) -> list[dict]:
    """The recipes that turned raw data into this version, oldest first: what a model trained
    on it must apply to a raw row before its own layers."""
    chain = [version, *dataset_version_ancestors(version)]
    return [v.recipe for v in reversed(chain) if v.recipe and "input_shape" in v.recipe]


def dataset_version_feature_names(version: DatasetVersion) -> list[str] | None:
    """The names of the raw features a model trained on this version takes (the oldest
    version's, whose rows it is given), when that data named every one of them."""
    raw = ([version, *dataset_version_ancestors(version)])[-1]
    names = raw.schema.get("feature_names")
    if not names or raw.schema.get("feature_names_omitted"):
        return None
    return list(names)


def dataset_version_lineage(version: DatasetVersion) -> dict:
    """Where a version came from and what came of it, in a fixed number of queries: its
    ancestors, its descendants, and the training runs and model versions that used it."""
    descendants = descendant_ids(DatasetVersion, version.pk)
    rows = DatasetVersion.objects.select_related("dataset").in_bulk(descendants)
    runs = version.training_runs.select_related("experiment").order_by("-created_at")
    models = version.model_versions.select_related("model").order_by("model__name", "version")
    return {
        "version": _node(version),
        "ancestors": [_node(v) for v in dataset_version_ancestors(version)],
        "descendants": [_node(rows[pk]) for pk in descendants if pk in rows],
        "training_runs": [
            {
                "id": run.pk,
                "experiment": run.experiment.name,
                "status": run.status,
                "architecture": run.architecture,
            }
            for run in runs
        ],
        "model_versions": [
            {
                "id": mv.pk,
                "model": mv.model.name,
                "version": mv.version,
                "sha256": mv.sha256,
                "run": mv.run_id,
            }
            for mv in models
        ],
    }


def _node(version: DatasetVersion) -> dict:
    return {
        "id": version.pk,
        "ref": version.ref,
        "status": version.status,
        "sha256": version.sha256,
        "source": version.source,
        "parent": version.parent_id,
        "recipe": (version.recipe or {}).get("spec"),
    }
