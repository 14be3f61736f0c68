"""Every write to datasets and their versions. The content itself is fetched, checked and
described on a worker (``ingest.py``); here requests are checked and versions queued."""

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, ProtectedError, Q

from accounts import access
from accounts.access import Capability
from accounts.models import Team
from accounts.selectors import team_default
from hpml_portal.errors import PayloadTooLarge
from hpml_portal.jobs import broker_failure, job_finish, job_reopen, job_send
from hpml_portal.storage import (
    ObjectTooLarge,
    delete_quietly,
    exists,
    local_copy,
    sha256_file,
    stage_stream,
    store_file,
)
from hpml_portal.validation import check_name

from . import formats, recipes
from .errors import DatasetError, VersionConflict
from .models import Dataset, DatasetVersion
from .sourcing import (  # noqa: F401 (the request side of sources is imported from here)
    BUILTIN_DATASETS,
    IngestSource,
    s3_source_client,
    sql_ingest_options,
    url_policy,
)

logger = logging.getLogger(__name__)
Source = DatasetVersion.Source


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
    """Create a PENDING version from a checked source and queue its ingest for a worker.

    The dataset is ``team``'s (the default team when None), made on first use; ``user`` must
    be allowed to write there. An upload is streamed to storage under a temporary key while
    it is hashed (nothing parses it here); when the dataset already holds that content (in a
    version that has not failed), the existing version comes back with ``False``.
    """
    team = team or team_default()
    access.require(user, team, Capability.WRITE, "ingest data")
    _check_name(dataset_name)
    try:
        fmt = formats.format_for_filename(source.filename)
    except formats.DatasetFileError as exc:
        raise DatasetError(str(exc)) from exc
    spec = dict(source.spec)
    if source.kind == Source.BUILTIN:  # the same built-in set is the same content
        existing = _live_version_from(team, dataset_name, source.description)
        if existing is not None:
            return existing, False
    if source.path is not None:
        sha256, size = _check_local_file(source.path)
        existing = _live_version_with_content(team, dataset_name, sha256)
        if existing is not None:
            return existing, False
        # Its sha256 is known before it is stored: straight to its content address, where
        # the worker leaves it once it is checked (or removes it).
        name = content_key(team, dataset_name, sha256, fmt)
        made = store_file(source.path, name=name).created
        spec |= {"staging": name, "sha256": sha256, "size": size}
    elif source.stream is not None:
        staged = _stage_upload(source.stream, team, fmt)
        existing = _live_version_with_content(team, dataset_name, staged.sha256)
        if existing is not None:
            delete_quietly(staged.name)
            return existing, False
        made = True
        spec |= {"staging": staged.name, "sha256": staged.sha256, "size": staged.size}
    try:
        return _create_version(team, dataset_name, fmt, source, spec, user), True
    except Exception:
        if "staging" in spec and made and not object_in_use(spec["staging"]):
            _remove_object(spec["staging"])
        raise


def content_key(team: Team, dataset_name: str, sha256: str, fmt: str) -> str:
    """Where a dataset's content is stored: named by its sha256."""
    return f"datasets/{team.slug}/{dataset_name}/{sha256}.{fmt}"


def _check_local_file(path: Path) -> tuple[str, int]:
    size = path.stat().st_size
    if size > settings.DATASET_MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"the file is larger than the limit of {settings.DATASET_MAX_UPLOAD_BYTES} bytes"
        )
    if size == 0:
        raise DatasetError("the file is empty")
    return sha256_file(path), size


def _stage_upload(stream: BinaryIO, team: Team, fmt: str):
    try:
        staged = stage_stream(
            stream,
            prefix=f"staging/{team.slug}",
            suffix=f".{fmt}",
            max_bytes=settings.DATASET_MAX_UPLOAD_BYTES,
        )
    except ObjectTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from exc
    if staged.size == 0:
        delete_quietly(staged.name)
        raise DatasetError("the file is empty")
    return staged


def _live_version_with_content(team, dataset_name: str, sha256: str) -> DatasetVersion | None:
    return (
        DatasetVersion.objects.filter(dataset__team=team, dataset__name=dataset_name)
        .filter(Q(sha256=sha256) | Q(source_spec__sha256=sha256))  # READY, or staged and PENDING
        .exclude(status=DatasetVersion.Status.FAILED)
        .order_by("version")
        .first()
    )


def _live_version_from(team, dataset_name: str, description: str) -> DatasetVersion | None:
    return (
        DatasetVersion.objects.filter(
            dataset__team=team, dataset__name=dataset_name, source=description
        )
        .exclude(status=DatasetVersion.Status.FAILED)
        .order_by("version")
        .first()
    )


def _create_version(team, name, fmt: str, source: IngestSource, spec: dict, user, **fields):
    with transaction.atomic():
        dataset, _ = Dataset.objects.get_or_create(
            team=team, name=name, defaults={"created_by": user}
        )
        version = _new_version(
            dataset,
            format=fmt,
            source_kind=source.kind,
            source=source.description[:500],
            source_spec=spec,
            label_column=source.label_column,
            bytes_total=spec.get("size"),
            created_by=user,
            **fields,
        )
    return version


def _new_version(dataset: Dataset, **fields) -> DatasetVersion:
    """The next version of ``dataset`` (numbered under a lock), queued after commit."""
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    latest = locked.versions.aggregate(latest=Max("version"))["latest"] or 0
    version = DatasetVersion.objects.create(dataset=locked, version=latest + 1, **fields)
    transaction.on_commit(lambda: _enqueue(version))
    return version


def _enqueue(version: DatasetVersion) -> None:
    try:
        job_send(DatasetVersion, version.pk)
    except Exception as exc:  # the broker is down: say so on the version, do not leave it PENDING
        logger.warning("could not queue the ingestion of %s: %s", version, exc)
        dataset_version_fail(
            version_id=version.pk,
            error=f"could not queue the ingestion: {broker_failure(exc)}",
            keep_source=True,
        )


def dataset_version_process(
    *, version: DatasetVersion, spec: dict, user=None
) -> tuple[DatasetVersion, bool]:
    """Queue a new version of the same dataset made by applying a recipe to ``version``.

    The recipe is checked against the version's schema now, fitted and applied on a worker.
    The same recipe on the same version gives back the version it made (and ``False``).
    """
    access.require(user, version.dataset.team, Capability.WRITE, "process data")
    if version.status != DatasetVersion.Status.READY:
        raise DatasetError(
            f"{version.ref} is {version.status}: only READY versions can be processed"
        )
    try:
        canonical = recipes.recipe_parse(spec, feature_shape=version.schema["feature_shape"])
    except recipes.RecipeError as exc:
        raise DatasetError(str(exc)) from exc
    key = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
    existing = _live_child_with_recipe(version, key)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            child = _new_version(
                version.dataset,
                format=DatasetVersion.Format.NPZ,
                source_kind=DatasetVersion.Source.PROCESS,
                source=f"process:{version.ref}",
                parent=version,
                recipe={"spec": canonical},
                recipe_key=key,
                created_by=user,
            )
    except IntegrityError:  # the same request won a race
        existing = _live_child_with_recipe(version, key)
        if existing is None:
            raise
        return existing, False
    return child, True


def _live_child_with_recipe(version: DatasetVersion, key: str) -> DatasetVersion | None:
    return (
        version.children.filter(recipe_key=key).exclude(status=DatasetVersion.Status.FAILED).first()
    )


def dataset_version_retry(*, version: DatasetVersion, user=None) -> DatasetVersion:
    """Queue a FAILED version's ingest again, from the source it was made from."""
    access.require(user, version.dataset.team, Capability.WRITE, "retry ingests")
    if version.status != DatasetVersion.Status.FAILED:
        raise VersionConflict(
            f"{version.ref} is {version.status}: only FAILED versions are retried"
        )
    if version.duplicate_of_id is not None:
        raise VersionConflict(f"{version.ref} failed because {version.error}: nothing to retry")
    staging = version.source_spec.get("staging")
    gone = staging is None or not exists(staging)
    if version.source_kind == Source.UPLOAD and gone:
        raise VersionConflict(
            f"the file uploaded for {version.ref} is no longer kept (it could never be ingested): "
            "upload it again"
        )
    if version.parent is not None and version.parent.status != DatasetVersion.Status.READY:
        raise VersionConflict(f"its parent {version.parent.ref} is {version.parent.status}")
    try:
        with transaction.atomic():
            moved = _back_to_pending(version)
            if not moved:
                raise VersionConflict(f"{version.ref} is no longer FAILED")
            transaction.on_commit(lambda: _enqueue(version))
    except IntegrityError as exc:  # its content or recipe is live in another version now
        raise VersionConflict(
            f"{version.ref} cannot be retried: another version of {version.dataset.name} now "
            "holds the same recipe or content"
        ) from exc
    version.refresh_from_db()
    return version


def _back_to_pending(version: DatasetVersion) -> bool:
    return job_reopen(DatasetVersion, version.pk, sha256="", bytes_done=0)


def dataset_version_delete(*, version: DatasetVersion, user=None) -> None:
    """Delete a version nothing depends on, with its stored objects unless another version
    shares them. Refused, with the reason, while it is being ingested or when runs, model
    versions or processed versions use it."""
    access.require(user, version.dataset.team, Capability.WRITE, "delete dataset versions")
    reasons = _delete_blockers(version)
    if reasons:
        raise VersionConflict(f"{version.ref} cannot be deleted: {'; '.join(reasons)}")
    names = [version.file.name, version.thumbnails, version.source_spec.get("staging", "")]
    with transaction.atomic():
        try:
            # Only if it is still in an ended state: a retry meanwhile wins.
            deleted, _ = DatasetVersion.objects.filter(
                pk=version.pk, status__in=DatasetVersion.TERMINAL
            ).delete()
        except ProtectedError as exc:  # something started using it meanwhile
            raise VersionConflict(f"{version.ref} cannot be deleted: it is in use") from exc
        if not deleted:
            raise VersionConflict(f"{version.ref} cannot be deleted: it was queued again")
        for name in names:
            if name and not object_in_use(name):
                transaction.on_commit(lambda n=name: _remove_object(n))


def _delete_blockers(version: DatasetVersion) -> list[str]:
    reasons = []
    if version.status in (DatasetVersion.WAITING, DatasetVersion.ACTIVE):
        reasons.append(f"it is {version.status}; wait for it to end")
    runs = list(version.training_runs.values_list("pk", flat=True)[:5])
    if runs:
        reasons.append(f"training runs used it ({', '.join(map(str, runs))})")
    models = version.model_versions.select_related("model")[:5]
    if models:
        reasons.append(
            "model versions were trained on it ("
            + ", ".join(f"{m.model.name}:{m.version}" for m in models)
            + ")"
        )
    children = [child.ref for child in version.children.select_related("dataset")[:5]]
    if children:
        reasons.append(f"versions were processed from it ({', '.join(children)})")
    return reasons


def object_in_use(name: str, *, exclude: int | None = None) -> bool:
    """Whether a version (other than ``exclude``) still refers to the stored object."""
    rows = DatasetVersion.objects.filter(
        Q(file=name) | Q(thumbnails=name) | Q(source_spec__staging=name)
    )
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    return rows.exists()


def dataset_version_fail(
    *,
    version_id: int,
    error: str,
    duplicate_of: DatasetVersion | None = None,
    keep_source: bool = False,
    attempt: int | None = None,
    only_from=None,
) -> DatasetVersion:
    """End a version FAILED with ``error`` (when it is still the worker's claim ``attempt``,
    and in ``only_from``, when given). A staged upload is removed, unless ``keep_source`` (the
    failure was not about the content: the version can be retried) or a version refers to it."""
    fields = {"duplicate_of": duplicate_of} if duplicate_of is not None else {}
    ended = job_finish(
        DatasetVersion,
        version_id,
        DatasetVersion.Status.FAILED,
        error=error,
        attempt=attempt,
        only_from=only_from,
        **fields,
    )
    version = DatasetVersion.objects.get(pk=version_id)
    if ended and not keep_source:
        forget_staging(version)
    return version


def forget_staging(version: DatasetVersion, *, after_commit: bool = True) -> None:
    """Drop a version's staged upload: its reference now, the object (after commit, unless
    ``after_commit`` is False) unless another version refers to it or it is the version's own
    stored file."""
    staging = version.source_spec.get("staging")
    if not staging or staging == version.file.name:
        return
    version.source_spec = {k: v for k, v in version.source_spec.items() if k != "staging"}
    DatasetVersion.objects.filter(pk=version.pk).update(source_spec=version.source_spec)
    if object_in_use(staging):
        return
    if after_commit:
        transaction.on_commit(lambda: _remove_object(staging))
    else:
        _remove_object(staging)


def dataset_version_load(*, version: DatasetVersion) -> formats.LoadedArrays:
    """The arrays (x, y and any recorded split) of a READY version, after checking the stored
    file's sha256. Raises ``formats.DatasetFileError`` when the file is not what was stored."""
    with _checked_copy(version) as path:
        return formats.read_arrays(
            path, version.format, label_column=version.label_column, limits=_load_limits()
        )


def dataset_version_open(*, version: DatasetVersion, folder: Path) -> formats.LoadedArrays:
    """Like ``dataset_version_load``, for training on data of any size: ``x`` is in memory
    when its decoded features take at most ``settings.TRAINING_IN_MEMORY_BYTES``, else a
    read-only float32 ``np.memmap`` of a file written in ``folder`` (which must outlive every
    use of ``x``; it needs ``samples * features * 4`` bytes of disk). Loading such a file
    holds a chunk of it at a time in memory, besides the labels and split (one value per
    sample)."""
    with _checked_copy(version) as path:
        return formats.open_arrays(
            path,
            version.format,
            folder=folder,
            max_in_memory_bytes=settings.TRAINING_IN_MEMORY_BYTES,
            label_column=version.label_column,
            limits=_load_limits(),
        )


@contextlib.contextmanager
def _checked_copy(version: DatasetVersion) -> Iterator[Path]:
    """A local copy of the version's stored file, once its sha256 is checked."""
    with local_copy(version.file.name) as path:
        if sha256_file(path) != version.sha256:
            raise formats.DatasetFileError(
                f"the stored file of {version.ref} does not match its sha256"
            )
        yield path


def _load_limits() -> formats.Limits:
    return formats.Limits(max_uncompressed_bytes=settings.DATASET_MAX_UNCOMPRESSED_BYTES)


def _remove_object(name: str) -> None:
    # After commit the version already says what happened: a storage error here must not undo
    # that answer; the object stays behind and the log says which.
    try:
        delete_quietly(name)
    except Exception:
        logger.exception("could not remove %s from storage", name)
