"""Every write to datasets and their versions."""

import io
import logging
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from accounts import access
from accounts.access import Capability
from accounts.models import Team
from accounts.selectors import team_default
from hpml_portal.errors import InvalidRequest
from hpml_portal.storage import (
    ObjectTooLarge,
    delete_quietly,
    local_copy,
    save_content_addressed,
    sha256_file,
    spooled_with_digest,
)
from hpml_portal.validation import check_name

from . import formats
from .models import Dataset, DatasetVersion

logger = logging.getLogger(__name__)


class DatasetError(InvalidRequest):
    """A request about datasets that cannot be carried out; the message says why."""


@dataclass
class IngestSource:
    """Content to ingest: a readable stream and what to call it."""

    stream: BinaryIO
    filename: str
    description: str  # recorded as the version's source, e.g. "upload:digits.npz"
    label_column: str = ""

    @classmethod
    def builtin(cls, name: str) -> "IngestSource":
        try:
            content = formats.builtin_dataset(name)
        except formats.DatasetFileError as exc:
            raise DatasetError(str(exc)) from exc
        return cls(
            stream=io.BytesIO(content), filename=f"{name}.npz", description=f"builtin:{name}"
        )

    @classmethod
    def upload(cls, stream: BinaryIO, filename: str, label_column: str = "") -> "IngestSource":
        return cls(stream, filename, f"upload:{filename}", label_column)


def _check_name(name: str) -> None:
    check_name("dataset", name, DatasetError)


def dataset_create(
    *, name: str, team: Team | None = None, description: str = "", user=None
) -> Dataset:
    """A new dataset in ``team`` (the default team when None), which ``user`` may write to."""
    team = team or team_default()
    access.require(user, team, Capability.WRITE, "create datasets")
    _check_name(name)
    if Dataset.objects.filter(team=team, name=name).exists():
        raise DatasetError(f"team {team.slug!r} already has a dataset named {name!r}")
    return Dataset.objects.create(team=team, name=name, description=description, created_by=user)


def dataset_describe(*, dataset: Dataset, description: str, user=None) -> Dataset:
    access.require(user, dataset.team, Capability.WRITE, "describe datasets")
    dataset.description = description
    dataset.save(update_fields=["description"])
    return dataset


def dataset_version_ingest(
    *, dataset_name: str, source: IngestSource, team: Team | None = None, user=None
) -> tuple[DatasetVersion, bool]:
    """Store the content and create a PENDING version whose checks run on a worker.

    The dataset is ``team``'s (the default team when None), made on first use; ``user`` must
    be allowed to write there. The content is stored under a key made of its sha256. Content
    this dataset already holds (in a version that has not failed) returns that version and
    ``False``.
    """
    team = team or team_default()
    access.require(user, team, Capability.WRITE, "ingest data")
    try:
        fmt = formats.format_for_filename(source.filename)
    except formats.DatasetFileError as exc:
        raise DatasetError(str(exc)) from exc
    _check_name(dataset_name)
    try:
        spool = spooled_with_digest(source.stream, max_bytes=settings.DATASET_MAX_UPLOAD_BYTES)
        with spool as (path, sha256, size):
            if size == 0:
                raise DatasetError("the file is empty")
            existing = _live_version_with_content(team, dataset_name, sha256)
            if existing is not None:
                return existing, False
            stored = save_content_addressed(
                path,
                sha256=sha256,
                prefix=f"datasets/{team.slug}/{dataset_name}",
                suffix=f".{fmt}",
            )
    except ObjectTooLarge as exc:
        raise DatasetError(str(exc)) from exc
    try:
        return _create_version(team, dataset_name, stored, fmt, source, user), True
    except IntegrityError:
        # Another request stored the same content first: answer with its version.
        existing = _live_version_with_content(team, dataset_name, stored.sha256)
        if stored.created and (existing is None or existing.file.name != stored.name):
            delete_quietly(stored.name)
        if existing is None:
            raise
        return existing, False
    except Exception:
        if stored.created:
            delete_quietly(stored.name)
        raise


def _live_version_with_content(team, dataset_name: str, sha256: str) -> DatasetVersion | None:
    return (
        DatasetVersion.objects.filter(dataset__team=team, dataset__name=dataset_name, sha256=sha256)
        .exclude(status=DatasetVersion.Status.FAILED)
        .order_by("version")
        .first()
    )


def _create_version(team, name, stored, fmt: str, source: IngestSource, user) -> DatasetVersion:
    from .tasks import ingest

    with transaction.atomic():
        dataset, _ = Dataset.objects.get_or_create(
            team=team, name=name, defaults={"created_by": user}
        )
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        latest = locked.versions.aggregate(latest=Max("version"))["latest"] or 0
        version = DatasetVersion.objects.create(
            dataset=locked,
            version=latest + 1,
            file=stored.name,
            sha256=stored.sha256,
            size_bytes=stored.size,
            format=fmt,
            source=source.description[:500],
            label_column=source.label_column,
            created_by=user,
        )
        transaction.on_commit(lambda: _enqueue(ingest, version))
    return version


def _enqueue(task, version: DatasetVersion) -> None:
    try:
        task.delay(version.pk)
    except Exception as exc:  # the broker is down: say so on the version, do not leave it PENDING
        logger.exception("could not enqueue ingestion of %s", version)
        dataset_version_fail(version_id=version.pk, error=f"could not queue the ingestion: {exc}")


def dataset_version_ingest_file(*, version_id: int) -> DatasetVersion:
    """Check a PENDING version's stored file and record its schema: READY, or FAILED.

    A version that is no longer PENDING is left as it is (the task may be delivered twice).
    """
    version = DatasetVersion.objects.select_related("dataset").get(pk=version_id)
    if version.status != DatasetVersion.Status.PENDING:
        return version
    try:
        schema, stats = formats.describe(*dataset_version_load(version=version))
    except formats.DatasetFileError as exc:
        return dataset_version_fail(version_id=version.pk, error=str(exc))
    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update().get(pk=version_id)
        if version.status != DatasetVersion.Status.PENDING:
            return version
        version.schema, version.stats = schema, stats
        version.finish(DatasetVersion.Status.READY)
        version.save(update_fields=["schema", "stats", "status", "error", "finished_at"])
    return version


def dataset_version_load(*, version: DatasetVersion):
    """The (x, y) arrays of a version's stored file, after checking the file's sha256.

    Raises ``formats.DatasetFileError`` when the file is not what was stored or not a dataset.
    """
    with local_copy(version.file.name) as path:
        if sha256_file(path) != version.sha256:
            raise formats.DatasetFileError(
                f"the stored file of {version.ref} does not match its sha256"
            )
        return formats.read_arrays(path, version.format, label_column=version.label_column)


def dataset_version_fail(*, version_id: int, error: str) -> DatasetVersion:
    """End a version FAILED with ``error`` and remove its stored file if nothing else uses it."""
    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update().get(pk=version_id)
        if version.is_terminal:
            return version
        version.finish(DatasetVersion.Status.FAILED, error=error[:5000])
        name = version.file.name
        shared = (
            DatasetVersion.objects.filter(file=name)
            .exclude(pk=version.pk)
            .exclude(status=DatasetVersion.Status.FAILED)
            .exists()
        )
        if name and not shared:
            version.file = ""
            transaction.on_commit(lambda: _remove_object(name))
        version.save(update_fields=["status", "error", "finished_at", "file"])
    return version


def _remove_object(name: str) -> None:
    # After commit the version already says FAILED: a storage error here must not undo that
    # answer; the object stays behind and the log says which.
    try:
        delete_quietly(name)
    except Exception:
        logger.exception("could not remove %s from storage", name)
