"""The s3:// half of URL fetching: ``s3_location`` checks an s3://bucket/key URL against the
policy's forbidden and allowed buckets without touching the network, and ``fetch_s3`` streams the
object through the caller's boto3 client into a local file, refusing one over the size limit
before downloading it and turning botocore errors into ``SourceError`` (a missing object, access
denied) or ``TransientSourceError`` (a 5xx, an unreachable endpoint). Plain Python.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from botocore.exceptions import BotoCoreError, ClientError

from datasets.sources import SourceError, TransientSourceError
from datasets.sources.common import (
    CHUNK_SIZE,
    FetchResult,
    Progress,
    UrlPolicy,
    copy_chunks,
    too_large,
)

_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def s3_location(url: str, policy: UrlPolicy) -> tuple[str, str]:
    """The (bucket, key) of an s3:// URL; ``SourceError`` if malformed or the policy refuses it."""
    if policy.allowed_buckets is not None and not policy.allowed_buckets:
        raise SourceError(
            "s3:// ingestion is off: the operator lists the buckets it may read in "
            "INGEST_S3_BUCKETS"
        )
    # Taken literally, as the AWS CLI does: keys may hold '?', '#' and '%'.
    _scheme, slashes, rest = url.partition("://")
    bucket, _, key = rest.partition("/")
    if not slashes or not _S3_BUCKET.fullmatch(bucket):
        raise SourceError(f"{bucket!r} is not an S3 bucket name; write s3://bucket/key")
    if not key or key.endswith("/"):
        raise SourceError(f"{url} names no object; write s3://bucket/key")
    if bucket in policy.forbidden_buckets:
        raise SourceError(
            f"bucket {bucket} is the platform's own storage; ingest from another bucket"
        )
    if policy.allowed_buckets is not None and bucket not in policy.allowed_buckets:
        raise SourceError(
            f"bucket {bucket} is not open to s3:// ingestion; the operator lists the buckets "
            "in INGEST_S3_BUCKETS"
        )
    return bucket, key


def fetch_s3(
    url: str,
    dest: BinaryIO,
    *,
    policy: UrlPolicy,
    progress: Progress | None,
    client,
) -> FetchResult:
    """Stream the object at ``url`` into ``dest`` through ``client``, a boto3 S3 client."""
    bucket, key = s3_location(url, policy)
    with _s3_errors(url):
        head = client.head_object(Bucket=bucket, Key=key)
        total = head["ContentLength"]
        if total > policy.max_bytes:
            raise SourceError(too_large(url, policy))
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            chunks = body.iter_chunks(CHUNK_SIZE)
            sha256, size = copy_chunks(chunks, dest, total, policy, progress, url)
        finally:
            body.close()
    content_type = head.get("ContentType", "")
    return FetchResult(sha256=sha256, size=size, final_url=url, content_type=content_type)


@contextmanager
def _s3_errors(url: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        raise _s3_answer(url, exc) from exc
    except BotoCoreError as exc:  # endpoint unreachable, timeouts, a stream broken off
        raise TransientSourceError(f"the object store failed while reading {url}: {exc}") from exc


def _s3_answer(url: str, exc: ClientError) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
        return SourceError(f"no object {url}")
    if status == 403 or code in ("403", "AccessDenied"):
        return SourceError(f"the platform's credentials may not read {url} (access denied)")
    if status >= 500:
        return TransientSourceError(f"the object store answered {status} {code} for {url}")
    return SourceError(f"the object store refused {url}: {code or status}")
