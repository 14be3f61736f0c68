"""Object storage helpers shared by the apps: content-addressed writes and streamed reads.

Everything goes through Django's default storage (local files or S3/MinIO through
django-storages), except large reads: ``S3Storage.open()`` pulls a whole object into memory
before the first byte, so reads stream into a temporary file with boto3 instead.
"""

import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage

from .errors import StorageUnavailable

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
SINGLE_COPY_LIMIT = 5 * 1024**3  # the largest object S3's CopyObject copies in one request


class ObjectTooLarge(ValueError):
    """More bytes arrived than the caller allows."""


# Answers of an S3 server that say "not now" rather than "no": worth trying again later.
PASSING_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling"}


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the storage could not be reached or failed on its side (no
    connection, a timeout, a 5xx answer), as opposed to refusing the request itself."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, StorageUnavailable | ConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or exc.response.get("Error", {}).get("Code") in PASSING_CODES
    if isinstance(exc, S3UploadFailedError):  # boto3's wrapper of a failed part upload
        cause = exc.__cause__ or exc.__context__
        return cause is None or is_unreachable(cause)
    return False


@contextmanager
def reaching_storage(doing: str) -> Iterator[None]:
    """Turn the storage being down (see ``is_unreachable``) into ``StorageUnavailable``, whose
    message says what could not be done without naming hosts or keys (it reaches API callers:
    the log has the full error); any other error passes unchanged."""
    try:
        yield
    except StorageUnavailable:
        raise
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        # Debug only: the caller reports the failure (a command's one line, a 503, a job's
        # error), and /readyz tells staff what the endpoint answered.
        logger.debug("the object storage failed while %s: %s", doing, exc)
        raise StorageUnavailable(
            f"the object storage cannot be reached now ({doing}: {_kind(exc)}); "
            "try again once it is back"
        ) from exc


def _kind(exc: BaseException) -> str:
    from botocore.exceptions import ClientError, ConnectionError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        return f"it answered {status} {error.get('Code', '')}".rstrip()
    if isinstance(exc, ConnectionError):
        return "no connection"
    return type(exc).__name__


@dataclass(frozen=True)
class StoredObject:
    name: str
    sha256: str
    size: int
    created: bool  # False when an object with this content was already there


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_content_addressed(path: Path, *, sha256: str, prefix: str, suffix: str) -> StoredObject:
    """Store a local file under ``prefix/<sha256><suffix>`` unless that object already exists."""
    name = f"{prefix}/{sha256}{suffix}"
    size = path.stat().st_size
    with reaching_storage("storing a file"):
        if default_storage.exists(name):
            return StoredObject(name=name, sha256=sha256, size=size, created=False)
        try:
            with open(path, "rb") as f:
                saved = default_storage.save(name, File(f, name=name))
        except Exception:
            _remove_after_failure(name)
            raise
    return StoredObject(name=saved, sha256=sha256, size=size, created=True)


@contextmanager
def local_copy(name: str) -> Iterator[Path]:
    """Yield a local path holding the stored object ``name``, streamed rather than buffered."""
    if isinstance(default_storage, FileSystemStorage):
        yield Path(default_storage.path(name))
        return
    fd, tmp = tempfile.mkstemp(prefix="hpml-", suffix=Path(name).suffix)
    try:
        # Only the download is the storage's: errors of the caller's block pass unchanged.
        with os.fdopen(fd, "wb") as out, reaching_storage("reading a stored file"):
            stored = default_storage.open(name, "rb")
            s3_object = getattr(stored, "obj", None)  # django-storages' S3File
            if s3_object is not None:
                s3_object.download_fileobj(out)
            else:
                shutil.copyfileobj(stored, out, CHUNK_SIZE)
            stored.close()
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


class _HashingReader:
    """A read-only stream that hashes and counts what passes through it, and refuses more
    than ``max_bytes`` (storage backends read it in parts while uploading)."""

    def __init__(self, source: BinaryIO, max_bytes: int | None):
        self.source, self.max_bytes = source, max_bytes
        self.digest, self.size = hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size if size and size > 0 else CHUNK_SIZE)
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise ObjectTooLarge(f"the file is larger than the limit of {self.max_bytes} bytes")
        self.digest.update(chunk)
        return chunk

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:  # the caller owns the source
        pass


def stage_stream(
    source: BinaryIO, *, prefix: str, suffix: str = "", max_bytes: int | None = None
) -> StoredObject:
    """Stream ``source`` into storage under a new unique key below ``prefix``, hashing it on
    the way; nothing is buffered whole. Raises ``ObjectTooLarge`` past ``max_bytes`` (no
    object is left behind)."""
    name = f"{prefix}/{uuid.uuid4().hex}{suffix}"
    reader = _HashingReader(source, max_bytes)
    try:
        with reaching_storage("storing the upload"):
            saved = default_storage.save(name, File(reader, name=name))
    except Exception:
        _remove_after_failure(name)
        raise
    return StoredObject(
        name=saved, sha256=reader.digest.hexdigest(), size=reader.size, created=True
    )


def store_file(path: Path, *, name: str) -> StoredObject:
    """Store a local file under ``name`` (unless an object is there already), in parallel
    parts on S3: a large file goes at the speed of ``upload_file``."""
    size = path.stat().st_size
    with reaching_storage("storing a file"):
        if default_storage.exists(name):
            return StoredObject(name=name, sha256="", size=size, created=False)
        bucket = getattr(default_storage, "bucket", None)
        if bucket is None:
            with open(path, "rb") as f:
                saved = default_storage.save(name, File(f, name=name))
            return StoredObject(name=saved, sha256="", size=size, created=True)
        try:
            bucket.upload_file(
                str(path),
                _s3_key(name),
                ExtraArgs=default_storage._get_write_parameters(name),
                Config=default_storage.transfer_config,
            )
        except Exception:
            _remove_after_failure(name)
            raise
    return StoredObject(name=name, sha256="", size=size, created=True)


def download_with_digest(
    name: str, out: BinaryIO, *, progress: Callable[[int, int], None] | None = None
) -> tuple[str, int]:
    """Stream the stored object ``name`` into ``out`` while hashing it; (sha256, size).

    One GET read in order: hashing needs the bytes in order anyway, and ranged parallel
    reads were several times slower against the S3 test endpoint."""
    with reaching_storage("reading a stored file"):
        return _download_with_digest(name, out, progress)


def _download_with_digest(name: str, out: BinaryIO, progress) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    bucket = getattr(default_storage, "bucket", None)
    if bucket is None:
        stream = open(default_storage.path(name), "rb")  # noqa: SIM115 (closed below)
        total = os.fstat(stream.fileno()).st_size
    else:
        response = bucket.meta.client.get_object(Bucket=bucket.name, Key=_s3_key(name))
        stream, total = response["Body"], int(response["ContentLength"])
    # Receiving, hashing and writing overlap: one thread each for the hash and the file (both
    # let go of the GIL), each taking the chunks in order; at most a few chunks in flight.
    in_flight: deque[Future] = deque()
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpml-hash") as hasher,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpml-write") as writer,
    ):
        try:
            for chunk in iter(lambda: stream.read(8 * CHUNK_SIZE), b""):
                in_flight += (hasher.submit(digest.update, chunk), writer.submit(out.write, chunk))
                while len(in_flight) > 8:
                    in_flight.popleft().result()
                size += len(chunk)
                if progress is not None:
                    progress(size, total)
            for pending in in_flight:
                pending.result()  # a failed write raises here
        finally:
            stream.close()
    return digest.hexdigest(), size


def _s3_key(name: str) -> str:
    from storages.utils import clean_name

    return default_storage._normalize_name(clean_name(name))


def copy_object(source: str, target: str) -> bool:
    """Copy the stored object ``source`` to ``target`` inside storage (server-side on S3);
    False, and nothing copied, when ``target`` already exists."""
    with reaching_storage("copying a stored file"):
        return _copy_object(source, target)


def _copy_object(source: str, target: str) -> bool:
    if default_storage.exists(target):
        return False
    bucket = getattr(default_storage, "bucket", None)
    if bucket is None:
        destination = Path(default_storage.path(target))
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(default_storage.path(source), destination)
        return True
    source_ref = {"Bucket": bucket.name, "Key": _s3_key(source)}
    client = bucket.meta.client
    size = client.head_object(**source_ref)["ContentLength"]
    if size <= SINGLE_COPY_LIMIT:  # one CopyObject request: a plain server-side copy
        client.copy_object(CopySource=source_ref, Bucket=bucket.name, Key=_s3_key(target))
    else:  # S3 copies larger objects only part by part
        bucket.copy(source_ref, _s3_key(target))
    return True


def delete_quietly(name: str) -> None:
    """Remove a stored object if it is there; used when undoing a failed write."""
    with reaching_storage("removing a stored file"):
        if name and default_storage.exists(name):
            default_storage.delete(name)


def _remove_after_failure(name: str) -> None:
    # The write failed, most likely because the storage is down: its error is the one to
    # report, not this cleanup's. (A multipart upload cut short leaves no object at all, only
    # parts that S3 keeps until the upload is aborted or expired by a lifecycle rule.)
    try:
        delete_quietly(name)
    except Exception:
        logger.warning("could not remove %s after a failed write", name)


def exists(name: str) -> bool:
    """Whether the stored object ``name`` exists; ``StorageUnavailable`` when that cannot be
    known now."""
    with reaching_storage("looking for a stored file"):
        return default_storage.exists(name)


def check_storage() -> None:
    """Raise if the default storage cannot be reached (used by the readiness probe)."""
    bucket = getattr(default_storage, "bucket", None)
    if bucket is not None:
        bucket.meta.client.head_bucket(Bucket=bucket.name)
    else:
        Path(default_storage.location).mkdir(parents=True, exist_ok=True)
        if not os.access(default_storage.location, os.W_OK):
            raise OSError(f"{default_storage.location} is not writable")
