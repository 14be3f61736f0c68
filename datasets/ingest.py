"""The work of one dataset version job on a worker: fetch the content, hash it, check and
describe it in chunks, store it under its content address, and end READY or FAILED.

Errors that can never succeed (a corrupt file, a refused URL, a bad query, a recipe that does
not fit) end the version FAILED at once with a readable message. Passing errors (storage, a
server's 5xx, the database) put the job back to PENDING and raise ``IngestInterrupted`` for the
task to try again later.
"""

import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection

from hpml_portal.errors import StorageUnavailable
from hpml_portal.jobs import Heartbeat, JobStatus, job_claim, job_finish, job_release
from hpml_portal.storage import (
    ObjectTooLarge,
    copy_object,
    delete_quietly,
    download_with_digest,
    local_copy,
    save_content_addressed,
    sha256_file,
    store_file,
)

from . import formats, recipes
from .models import DatasetVersion
from .services import content_key, dataset_version_fail, forget_staging, object_in_use
from .sources import SourceError, TransientSourceError
from .sourcing import s3_source_client, sql_ingest_options, url_policy

logger = logging.getLogger(__name__)

PERMANENT = (formats.DatasetFileError, SourceError, recipes.RecipeError, ObjectTooLarge)
Source = DatasetVersion.Source


class IngestInterrupted(Exception):
    """A passing error stopped the job; it is PENDING again and worth another try."""


def limits() -> formats.Limits:
    return formats.Limits(max_uncompressed_bytes=settings.DATASET_MAX_UNCOMPRESSED_BYTES)


def dataset_version_execute(*, version_id: int, worker: str = "") -> DatasetVersion | None:
    """Claim a PENDING version and ingest it. None when it could not be claimed (another worker
    has it, or it has ended: a message delivered twice is a no-op)."""
    attempt = job_claim(DatasetVersion, version_id, worker=worker)
    if attempt is None:
        return None
    version = DatasetVersion.objects.select_related("dataset__team", "parent").get(pk=version_id)
    claim = Claim(version, attempt)
    with (
        tempfile.TemporaryDirectory(prefix="hpml-ingest-") as tmp,
        Heartbeat(DatasetVersion, version.pk, attempt=attempt) as claim.beat,
    ):
        try:
            path = Path(tmp) / f"content.{version.format}"
            return _describe_and_store(claim, path, _fetch(version, path, claim.beat))
        except PERMANENT as exc:
            return claim.fail(str(exc))
        except SoftTimeLimitExceeded:
            return claim.fail(
                f"the ingest took longer than INGEST_TIME_LIMIT ({settings.INGEST_TIME_LIMIT}s)"
            )
        except _transient_errors() as exc:
            if not _is_transient(exc):
                return claim.fail(_readable(exc))
            claim.release(exc)
            raise IngestInterrupted(_readable(exc)) from exc
        except Exception as exc:  # a bug, not the data: no retry would help
            logger.exception("ingesting %s failed", version)
            return claim.fail(_readable(exc))


class Claim:
    """This worker's claim on a version: every end it writes names the claim, so a worker
    whose job was reaped (and perhaps retried and claimed by another) changes nothing."""

    beat: Heartbeat

    def __init__(self, version: DatasetVersion, attempt: int):
        self.version, self.attempt = version, attempt

    def fail(self, error: str, **fields) -> DatasetVersion:
        return dataset_version_fail(
            version_id=self.version.pk, error=error, attempt=self.attempt, **fields
        )

    def release(self, error: Exception) -> None:
        """Back to PENDING for another try. After a database error the connection is dropped
        first: it would otherwise stay broken for the rest of this process."""
        if isinstance(error, (OperationalError, InterfaceError)):
            connection.close()
        try:
            job_release(DatasetVersion, self.version.pk, attempt=self.attempt)
        except (OperationalError, InterfaceError):  # still down: the reaper will close it
            logger.exception("could not put %s back to PENDING", self.version)


def _transient_errors() -> tuple:
    return (
        TransientSourceError,
        StorageUnavailable,
        BotoCoreError,
        ClientError,
        OperationalError,
        InterfaceError,
    )


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        meta = exc.response.get("ResponseMetadata", {})
        return meta.get("HTTPStatusCode", 0) >= 500 or exc.response.get("Error", {}).get(
            "Code"
        ) in ("SlowDown", "Throttling", "RequestTimeout")
    return True


def _readable(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"storage answered {error.get('Code', '?')}: {error.get('Message', exc)}"
    if isinstance(exc, TransientSourceError | StorageUnavailable):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Fetched:
    """Content brought into a local file: its sha256 and size."""

    sha256: str
    size: int


def _fetch(version: DatasetVersion, path: Path, beat: Heartbeat) -> Fetched:
    """Bring the content into ``path``."""
    spec, kind = version.source_spec, version.source_kind

    def progress(done: int, total: int | None = None) -> None:
        beat.update(bytes_done=done, bytes_total=total)

    if kind == Source.UPLOAD:
        return _fetch_staged(spec, path, progress)
    with open(path, "wb") as out:
        if kind == Source.URL:
            from .sources.url import fetch_url, is_s3_url

            url = spec["url"]
            s3 = s3_source_client() if is_s3_url(url) else None
            result = fetch_url(url, out, policy=url_policy(), progress=progress, s3_client=s3)
            return Fetched(result.sha256, result.size)
    if kind == Source.SQL:
        from .sources.sql import query_to_parquet

        query_to_parquet(
            spec["query"],
            path,
            label_column=version.label_column or formats.DEFAULT_LABEL_COLUMN,
            progress=lambda rows: beat.update(bytes_done=_size_of(path)),
            **sql_ingest_options(),
        )
    elif kind == Source.BUILTIN:
        formats.write_builtin(spec["name"], path)
    elif kind == Source.PROCESS:
        _process(version, path)
    else:
        raise SourceError(f"unknown source {kind!r}")
    size = path.stat().st_size
    beat.update(bytes_done=size, bytes_total=size)
    return Fetched(sha256_file(path), size)


def _fetch_staged(spec: dict, path: Path, progress) -> Fetched:
    try:
        with open(path, "wb") as out:
            sha256, size = download_with_digest(spec["staging"], out, progress=progress)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise SourceError("the uploaded file is gone from storage: upload it again") from exc
        raise
    except FileNotFoundError as exc:
        raise SourceError("the uploaded file is gone from storage: upload it again") from exc
    if sha256 != spec.get("sha256", sha256):
        raise SourceError("the uploaded file changed in storage after it was received")
    return Fetched(sha256, size)


def _size_of(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _process(version: DatasetVersion, path: Path) -> None:
    """Fit the version's recipe on its parent and write the processed arrays to ``path``."""
    parent = version.parent
    with (
        local_copy(parent.file.name) as parent_path,
        formats.open_dataset(
            parent_path, parent.format, label_column=parent.label_column, limits=limits()
        ) as reader,
    ):
        recipe = recipes.recipe_fit(reader, version.recipe["spec"])
        recipes.recipe_apply(reader, recipe, path)
    version.recipe = recipe


def _describe_and_store(claim: Claim, path: Path, fetched: Fetched):
    version, sha256, size = claim.version, fetched.sha256, fetched.size
    duplicate = _live_version_with(version, sha256)
    if duplicate is not None:
        return _end_as_duplicate(claim, duplicate)
    name = content_key(version.dataset.team, version.dataset.name, sha256, version.format)
    # Storing (a server-side copy or an upload) overlaps the pass that checks and describes.
    storing = _storing.submit(_store, version, path, name)
    made: list[str] = []  # objects this worker created: removed again unless it ends READY
    try:
        with formats.open_dataset(
            path, version.format, label_column=version.label_column, limits=limits()
        ) as reader:
            description = formats.describe(reader)
            thumbnails = formats.render_thumbnails(reader)
        stored, created = storing.result()
        made += [stored] if created else []
        thumbs_name, thumbs_created = _store_thumbnails(thumbnails, sha256, name)
        made += [thumbs_name] if thumbs_created else []
        ended = job_finish(
            DatasetVersion,
            version.pk,
            JobStatus.READY,
            only_from=[JobStatus.INGESTING],
            attempt=claim.attempt,
            file=stored,
            sha256=sha256,
            size_bytes=size,
            bytes_done=size,
            bytes_total=size,
            schema=description.schema,
            stats=description.stats,
            preview=description.preview,
            thumbnails=thumbs_name,
            recipe=version.recipe,
        )
    except IntegrityError:  # another version stored the same content meanwhile
        ended = False
    except BaseException:
        _undo(storing, made)
        raise
    if not ended:
        _undo(storing, made)
        duplicate = _live_version_with(version, sha256)
        if duplicate is not None:
            return _end_as_duplicate(claim, duplicate)
        return DatasetVersion.objects.get(pk=version.pk)  # reaped, retried or deleted
    _remove_staging(version)
    return DatasetVersion.objects.get(pk=version.pk)


_storing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpml-store")


def _store(version: DatasetVersion, path: Path, name: str) -> tuple[str, bool]:
    """Put the content under ``name``: (name, whether this call created the object)."""
    staging = version.source_spec.get("staging")
    if staging == name:  # staged in place by the request
        return name, False
    if staging:  # already in storage: copy it there
        return name, copy_object(staging, name)
    stored = store_file(path, name=name)
    return stored.name, stored.created


def _store_thumbnails(png: bytes | None, sha256: str, content_name: str) -> tuple[str, bool]:
    if png is None:
        return "", False
    with tempfile.NamedTemporaryFile(suffix=".png") as tmp:
        tmp.write(png)
        tmp.flush()
        stored = save_content_addressed(
            Path(tmp.name),
            sha256=sha256,
            prefix=content_name.rpartition("/")[0],
            suffix=".thumbnails.png",
        )
    return stored.name, stored.created


def _live_version_with(version: DatasetVersion, sha256: str) -> DatasetVersion | None:
    return (
        DatasetVersion.objects.filter(dataset_id=version.dataset_id, sha256=sha256)
        .exclude(pk=version.pk)
        .exclude(status=JobStatus.FAILED)
        .order_by("version")
        .first()
    )


def _end_as_duplicate(claim: Claim, duplicate: DatasetVersion) -> DatasetVersion:
    return claim.fail(
        f"the content is the same as {duplicate.ref} (id {duplicate.pk}): nothing new was stored",
        duplicate_of=duplicate,
    )


def _undo(storing, made: list[str]) -> None:
    """Remove the objects this worker created, unless a version refers to them now (another
    worker may have made the same version READY with them meanwhile)."""
    try:
        stored, created = storing.result()
    except Exception:  # the storing failed too: nothing of it to remove
        logger.exception("storing failed as well")
    else:
        made = [*made, stored] if created and stored not in made else made
    for name in made:
        if name and not object_in_use(name):
            try:
                delete_quietly(name)
            except Exception:  # the error being handled matters more; the log says which
                logger.exception("could not remove %s from storage", name)


def _remove_staging(version: DatasetVersion) -> None:
    try:
        forget_staging(DatasetVersion.objects.get(pk=version.pk), after_commit=False)
    except Exception:  # the version is READY; a leftover staged upload is only space
        logger.exception("could not remove the staged upload of %s", version)
