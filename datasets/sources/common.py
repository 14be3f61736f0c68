"""What the http(s) and s3 fetchers share: the ``UrlPolicy`` the caller passes in, the
``FetchResult`` they return, the chunk and progress sizes, the copy loop that hashes and counts
while it writes and stops at the size limit, and ``shown``, the form of a URL that messages may
carry. Plain Python, importing nothing else from ``datasets.sources`` but its errors, so that
``url``, ``addresses`` and ``s3`` can all import it without a cycle.
"""

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit, urlunsplit

from datasets.sources import SourceError

CHUNK_SIZE = 1024 * 1024
PROGRESS_EVERY = 4 * CHUNK_SIZE

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class UrlPolicy:
    allow_private: bool = False  # INGEST_URL_ALLOW_PRIVATE
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # the longest wait for any one read
    max_bytes: int = 2 * 1024**3
    max_redirects: int = 3
    # Never read: the platform's own bucket holds every team's data.
    forbidden_buckets: frozenset[str] = frozenset()
    # INGEST_S3_BUCKETS: None, any bucket not forbidden; else only these (none: s3:// is off).
    allowed_buckets: frozenset[str] | None = None


@dataclass(frozen=True)
class FetchResult:
    sha256: str
    size: int
    final_url: str
    content_type: str


def copy_chunks(
    chunks: Iterable[bytes],
    dest: BinaryIO,
    total: int | None,
    policy: UrlPolicy,
    progress: Progress | None,
    url: str,
) -> tuple[str, int]:
    """Write ``chunks`` to ``dest``; return (sha256, size). Stops as soon as the limit passes."""
    digest, size, reported = hashlib.sha256(), 0, 0
    for chunk in chunks:
        size += len(chunk)
        if size > policy.max_bytes:
            raise SourceError(too_large(url, policy))
        digest.update(chunk)
        dest.write(chunk)
        if progress is not None and size - reported >= PROGRESS_EVERY:
            progress(size, total)
            reported = size
    if progress is not None:
        progress(size, total)
    return digest.hexdigest(), size


def too_large(url: str, policy: UrlPolicy) -> str:
    return f"{shown(url)} is larger than the limit of {policy.max_bytes} bytes"


def shown(url: str) -> str:
    """The URL as messages may show it: no credentials, and no query (signed URLs keep theirs
    there)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "..." if parts.query else "", ""))
