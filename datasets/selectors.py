"""Reads of datasets and their versions, scoped to what the caller's teams hold."""

from django.db.models import Count, QuerySet

from accounts import access
from accounts.access import Capability
from accounts.selectors import one_by_name
from hpml_portal.errors import NotFound

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
