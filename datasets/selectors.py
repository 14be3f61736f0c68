"""Reads of datasets and their versions."""

from django.db.models import Count, QuerySet

from .models import Dataset, DatasetVersion


class DatasetNotFound(LookupError):
    """No dataset version answers a reference; the message says which."""


def dataset_list() -> QuerySet[Dataset]:
    return Dataset.objects.annotate(version_count=Count("versions")).order_by("name")


def dataset_version_list() -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.select_related("dataset", "parent__dataset", "created_by")


def dataset_version_resolve(ref: str) -> DatasetVersion:
    """Find ``NAME:VERSION``, or the newest READY version of ``NAME``."""
    name, sep, number = ref.partition(":")
    versions = dataset_version_list().filter(dataset__name=name)
    if sep:
        if not number.isdecimal():
            raise DatasetNotFound(f"invalid dataset reference {ref!r}: use NAME or NAME:VERSION")
        version = versions.filter(version=int(number)).first()
        if version is None:
            raise DatasetNotFound(f"dataset {name!r} has no version {number}")
        return version
    version = versions.filter(status=DatasetVersion.Status.READY).order_by("-version").first()
    if version is None:
        if not Dataset.objects.filter(name=name).exists():
            raise DatasetNotFound(f"there is no dataset named {name!r}")
        raise DatasetNotFound(f"dataset {name!r} has no READY version")
    return version
