"""Where a new version's content comes from, checked when it is asked for (no network): an
upload's stream, a local file, a URL, a SQL query or a built-in data set. The worker fetches
it (``ingest.py``) with the settings these helpers turn into the sources' options."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from . import formats
from .errors import DatasetError
from .models import DatasetVersion
from .sources import SourceError

Source = DatasetVersion.Source


BUILTIN_DATASETS = ("digits",)


@dataclass
class IngestSource:
    """A checked description of where a new version's content comes from; the worker fetches
    it. An upload carries its stream, which the web process only copies to storage."""

    kind: str
    description: str  # recorded as the version's source, e.g. "upload:digits.npz"
    filename: str  # tells the format
    spec: dict = field(default_factory=dict)
    label_column: str = ""
    stream: BinaryIO | None = None
    path: Path | None = None

    @classmethod
    def builtin(cls, name: str) -> "IngestSource":
        if name not in BUILTIN_DATASETS:
            raise DatasetError(
                f"unknown built-in dataset {name!r}: the built-in one is {BUILTIN_DATASETS[0]!r}"
            )
        return cls(Source.BUILTIN, f"builtin:{name}", f"{name}.npz", {"name": name})

    @classmethod
    def upload(cls, stream: BinaryIO, filename: str, label_column: str = "") -> "IngestSource":
        return cls(Source.UPLOAD, f"upload:{filename}", filename, {}, label_column, stream)

    @classmethod
    def local_file(cls, path: Path, label_column: str = "") -> "IngestSource":
        """A file on this machine (the ``--file`` of a command)."""
        return cls(Source.UPLOAD, f"upload:{path.name}", path.name, {}, label_column, path=path)

    @classmethod
    def url(cls, url: str, label_column: str = "") -> "IngestSource":
        from .sources.url import check_url

        try:
            filename = check_url(url, policy=url_policy())
        except SourceError as exc:
            raise DatasetError(str(exc)) from exc
        return cls(Source.URL, f"url:{url}", filename, {"url": url}, label_column)

    @classmethod
    def sql(cls, query: str, label_column: str = "") -> "IngestSource":
        from .sources.sql import check_query

        if not settings.SQL_SOURCE_URL:
            raise DatasetError(
                "SQL ingestion is off: the operator sets SQL_SOURCE_URL to enable it"
            )
        try:
            query = check_query(query)
        except SourceError as exc:
            raise DatasetError(str(exc)) from exc
        label = label_column or formats.DEFAULT_LABEL_COLUMN
        return cls(Source.SQL, f"sql:{query}", "query.parquet", {"query": query}, label)


def url_policy():
    from .sources.url import UrlPolicy

    return UrlPolicy(
        allow_private=settings.INGEST_URL_ALLOW_PRIVATE,
        connect_timeout=settings.INGEST_CONNECT_TIMEOUT,
        read_timeout=settings.INGEST_READ_TIMEOUT,
        max_bytes=settings.DATASET_MAX_UPLOAD_BYTES,
        allowed_buckets=frozenset(settings.INGEST_S3_BUCKETS),
        forbidden_buckets=_platform_buckets(),
    )


def _platform_buckets() -> frozenset[str]:
    """Buckets that hold every team's data: the platform's storage and MLflow's artifacts."""
    buckets = {settings.AWS_STORAGE_BUCKET_NAME}
    if settings.MLFLOW_ARTIFACT_ROOT.startswith("s3://"):
        buckets.add(settings.MLFLOW_ARTIFACT_ROOT.removeprefix("s3://").split("/", 1)[0])
    return frozenset(bucket for bucket in buckets if bucket)


def sql_ingest_options() -> dict:
    return {
        "dsn": settings.SQL_SOURCE_URL,
        "statement_timeout": settings.SQL_STATEMENT_TIMEOUT,
        "max_rows": settings.SQL_MAX_ROWS,
    }


def s3_source_client():
    """A boto3 client with the platform's S3 endpoint and credentials, for s3:// sources."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=settings.AWS_S3_ENDPOINT_URL or None,
        aws_access_key_id=settings.AWS_ACCESS_KEY_ID or None,
        aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY or None,
        region_name=settings.AWS_S3_REGION_NAME or None,
    )
