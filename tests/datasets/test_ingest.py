"""The worker side of ingestion: fetch, hash, check, describe, store; READY or FAILED with a
readable error and nothing left behind."""

import io
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage

from datasets import services
from datasets.formats.writer import npy_header
from datasets.ingest import IngestInterrupted, dataset_version_execute
from datasets.models import DatasetVersion
from tests.conftest import npz_bytes
from tests.datasets.sources import FileServer
from tests.helpers import stored_keys


def ingest(content: bytes, filename: str = "data.npz", name: str = "blobs", **kwargs):
    version, _ = services.dataset_version_ingest(
        dataset_name=name,
        source=services.IngestSource.upload(io.BytesIO(content), filename, **kwargs),
    )
    return version


def run(version, capture=None):
    """Ingest now, in this process, and run what it leaves for after commit."""
    if capture is None:
        return dataset_version_execute(version_id=version.pk)
    with capture(execute=True):
        return dataset_version_execute(version_id=version.pk)


@pytest.mark.django_db
def test_an_upload_ends_ready_stored_under_its_sha256_with_its_description(small_npz):
    pending = ingest(small_npz)
    version = run(pending)

    assert version.status == "READY", version.error
    assert version.file.name == f"datasets/default/blobs/{version.sha256}.npz"
    assert default_storage.exists(version.file.name)
    assert not default_storage.exists(pending.source_spec["staging"])
    assert "staging" not in version.source_spec
    assert version.size_bytes == version.bytes_done == len(small_npz) and version.progress == 1.0
    assert version.started_at and version.finished_at and version.worker == ""
    schema, stats = version.schema, version.stats
    assert schema["samples"] == 90 and schema["feature_shape"] == [8]
    assert schema["class_counts"] == {"0": 30, "1": 30, "2": 30}
    assert len(stats["features"]) == 8 and stats["features"][0]["missing"] == 0
    assert stats["class_balance"] == pytest.approx({"0": 1 / 3, "1": 1 / 3, "2": 1 / 3})
    assert len(version.preview["rows"]) == 10 and version.thumbnails == ""


@pytest.mark.django_db
def test_builtin_digits_gets_thumbnails_rendered_once_and_stored():
    version, _ = services.dataset_version_ingest(
        dataset_name="digits", source=services.IngestSource.builtin("digits")
    )
    version = run(version)

    assert version.status == "READY", version.error
    assert version.source == "builtin:digits" and version.schema["samples"] == 1797
    assert version.thumbnails.endswith(".thumbnails.png")
    with default_storage.open(version.thumbnails, "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.django_db
def test_a_csv_is_read_with_its_label_column():
    content = b"a,b,kind\n1,2,cat\n3,4,dog\n5,6,cat\n"
    version = run(ingest(content, filename="pets.csv", label_column="kind"))

    assert version.status == "READY", version.error
    assert version.schema["classes"] == ["cat", "dog"]
    assert version.schema["feature_names"] == ["a", "b"]


@pytest.mark.django_db
def test_a_parquet_file_is_read_in_batches():
    buffer = io.BytesIO()
    table = pa.table({"f1": np.arange(50.0), "f2": np.ones(50), "label": np.arange(50) % 2})
    pq.write_table(table, buffer, row_group_size=7)

    version = run(ingest(buffer.getvalue(), filename="t.parquet"))

    assert version.status == "READY", version.error
    assert version.schema["samples"] == 50 and version.schema["feature_shape"] == [2]


def _zip(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    rows = 10 * 1024**3
    header = npy_header((rows, 1), np.dtype(np.float32))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", header + bytes(64 * 1024))
        archive.writestr("y.npy", _npy(np.arange(3)))
        archive.getinfo("x.npy").file_size = len(header) + rows * 4
    return buffer.getvalue()


GOOD = npz_bytes(x=np.ones((200, 16), np.float32), y=np.arange(200) % 2)
BAD_FILES = {
    "not a zip": ("data.npz", b"this is not a zip file", "not a valid .npz file"),
    "truncated": ("data.npz", GOOD[: len(GOOD) // 2], "truncated or corrupt"),
    "zip bomb": ("data.npz", _zip_bomb(), "zip bomb"),
    "gigantic shape": (
        "data.npz",
        _zip(
            **{
                "x.npy": npy_header((10**12, 10**6), np.dtype(np.float64)) + bytes(64),
                "y.npy": npy_header((10**12,), np.dtype(np.int64)) + bytes(64),
            }
        ),
        "once unpacked",
    ),
    "object arrays": (
        "data.npz",
        _zip(
            **{
                "x.npy": _npy(np.array([[{"a": 1}], [{"b": 2}]], dtype=object)),
                "y.npy": _npy(np.arange(2)),
            }
        ),
        "pickled Python objects",
    ),
    "mismatched lengths": (
        "data.npz",
        npz_bytes(x=np.ones((3, 2)), y=np.array([0, 1])),
        "3 feature rows but 2 labels",
    ),
    "nan": ("data.npz", npz_bytes(x=np.array([[1.0, np.nan]]), y=np.array([0])), "NaN"),
    "inf": ("data.npz", npz_bytes(x=np.array([[np.inf, 1.0]]), y=np.array([0])), "infinite"),
    "csv text cell": ("t.csv", b"a,b,label\n1,2,0\n3,oops,1\n", "'b'"),
    "csv ragged row": ("t.csv", b"a,b,label\n1,2,0\n3,4,1,9\n", "line"),
    "csv without label": ("t.csv", b"a,b\n1,2\n", "no label column 'label'"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", BAD_FILES, ids=str)
def test_a_bad_file_fails_at_once_readably_and_leaves_nothing(
    case, django_capture_on_commit_callbacks
):
    filename, content, message = BAD_FILES[case]
    version = ingest(content, filename=filename)

    version = run(version, django_capture_on_commit_callbacks)

    assert version.status == "FAILED" and message in version.error, version.error
    assert "EOF in multi-line statement" not in version.error
    assert version.file.name == "" and version.sha256 == ""
    assert stored_keys() == []  # neither the staged upload nor a stored object


@pytest.mark.django_db
def test_a_version_that_is_not_pending_is_not_taken_again(ready_version):
    default_storage.delete(ready_version.file.name)  # a second ingest would now fail

    assert dataset_version_execute(version_id=ready_version.pk) is None

    ready_version.refresh_from_db()
    assert ready_version.status == "READY"


@pytest.mark.django_db
def test_the_same_content_from_another_source_ends_as_a_duplicate_of_the_first(settings):
    settings.INGEST_URL_ALLOW_PRIVATE = True
    first, _ = services.dataset_version_ingest(
        dataset_name="digits", source=services.IngestSource.builtin("digits")
    )
    first = run(first)
    with FileServer() as server:
        with default_storage.open(first.file.name, "rb") as stored:
            server.files["/digits.npz"] = stored.read()
        again, created = services.dataset_version_ingest(
            dataset_name="digits", source=services.IngestSource.url(server.url("/digits.npz"))
        )
        again = run(again)

    assert created and again.status == "FAILED" and again.duplicate_of_id == first.pk
    assert "the same as digits:1" in again.error
    assert DatasetVersion.objects.get(pk=first.pk).status == "READY"


@pytest.mark.django_db
def test_the_same_built_in_set_again_is_the_version_that_holds_it():
    first, _ = services.dataset_version_ingest(
        dataset_name="digits", source=services.IngestSource.builtin("digits")
    )

    again, created = services.dataset_version_ingest(
        dataset_name="digits", source=services.IngestSource.builtin("digits")
    )

    assert not created and again.pk == first.pk


@pytest.mark.django_db
def test_a_url_is_fetched_by_the_worker(settings, small_npz):
    settings.INGEST_URL_ALLOW_PRIVATE = True
    with FileServer() as server:
        server.files["/data/blobs.npz"] = small_npz
        version, created = services.dataset_version_ingest(
            dataset_name="web", source=services.IngestSource.url(server.url("/data/blobs.npz"))
        )
        assert created and version.source_kind == "url"

        version = run(version)

    assert version.status == "READY", version.error
    assert version.size_bytes == len(small_npz) and version.schema["samples"] == 90


@pytest.mark.django_db
def test_a_url_that_answers_404_fails_readably(settings, django_capture_on_commit_callbacks):
    settings.INGEST_URL_ALLOW_PRIVATE = True
    with FileServer() as server:
        version, _ = services.dataset_version_ingest(
            dataset_name="web", source=services.IngestSource.url(server.url("/missing.npz"))
        )
        version = run(version, django_capture_on_commit_callbacks)

    assert version.status == "FAILED" and "404" in version.error
    assert stored_keys() == []


@pytest.mark.django_db
def test_a_server_error_puts_the_job_back_for_another_try(settings):
    settings.INGEST_URL_ALLOW_PRIVATE = True
    with FileServer() as server:
        server.statuses["/flaky.npz"] = 503
        version, _ = services.dataset_version_ingest(
            dataset_name="web", source=services.IngestSource.url(server.url("/flaky.npz"))
        )
        with pytest.raises(IngestInterrupted, match="503"):
            dataset_version_execute(version_id=version.pk)

    version.refresh_from_db()
    assert version.status == "PENDING" and version.worker == ""


@pytest.mark.django_db
def test_a_url_over_the_size_limit_fails_while_streaming(settings):
    settings.INGEST_URL_ALLOW_PRIVATE = True
    settings.DATASET_MAX_UPLOAD_BYTES = 1000
    with FileServer() as server:
        server.files["/big.npz"] = bytes(5000)
        version, _ = services.dataset_version_ingest(
            dataset_name="web", source=services.IngestSource.url(server.url("/big.npz"))
        )
        version = run(version)

    assert version.status == "FAILED" and "larger than the limit" in version.error
    assert stored_keys() == []


@pytest.mark.django_db
def test_a_query_is_streamed_into_parquet_by_the_worker(settings, sql_source):
    settings.SQL_SOURCE_URL = sql_source.dsn
    source = services.IngestSource.sql(
        "SELECT petal, sepal, kind AS label FROM flowers ORDER BY id"
    )
    version, _ = services.dataset_version_ingest(dataset_name="flowers", source=source)

    version = run(version)

    assert version.status == "READY", version.error
    assert version.format == "parquet" and version.source.startswith("sql:SELECT")
    assert version.schema["samples"] == 90 and version.schema["classes"] == [0, 1, 2]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "label", "message"),
    [
        ("SELECT petal, sepal FROM flowers", "", "no label column 'label'"),
        ("SELECT petal, name, kind AS label FROM flowers", "", "'name' is text"),
        ("SELECT petal, kind AS label FROM flowers, pg_sleep(2)", "", "statement timeout"),
    ],
)
def test_a_query_that_cannot_give_a_dataset_fails_readably(
    settings, sql_source, query, label, message
):
    settings.SQL_SOURCE_URL = sql_source.dsn
    settings.SQL_STATEMENT_TIMEOUT = 0.5
    version, _ = services.dataset_version_ingest(
        dataset_name="flowers", source=services.IngestSource.sql(query, label)
    )

    version = run(version)

    assert version.status == "FAILED" and message in version.error, version.error
    assert sql_source.count() == 90


@pytest.mark.django_db
def test_a_worker_that_lost_its_job_leaves_the_next_workers_result_alone(
    small_npz, monkeypatch, django_capture_on_commit_callbacks
):
    from datasets import ingest as ingest_module
    from hpml_portal.jobs import JobStatus, job_finish

    version = ingest(small_npz)
    describe = ingest_module.formats.describe
    taken_over = []

    def describe_while_reaped_and_retried(reader, **kwargs):
        if not taken_over:  # the first worker stalls here; the reaper and a retry move on
            taken_over.append(True)
            job_finish(DatasetVersion, version.pk, JobStatus.FAILED, error="reaped")
            retried = services.dataset_version_retry(
                version=DatasetVersion.objects.get(pk=version.pk)
            )
            assert run(retried).status == "READY"
        return describe(reader, **kwargs)

    monkeypatch.setattr(ingest_module.formats, "describe", describe_while_reaped_and_retried)
    with django_capture_on_commit_callbacks(execute=True):
        late = run(version)

    assert late.status == "READY" and late.attempt == 2
    assert default_storage.exists(late.file.name)
    assert default_storage.exists(late.thumbnails) if late.thumbnails else True


@pytest.mark.django_db
def test_deleting_a_failed_version_keeps_the_file_another_version_is_ingesting(tmp_path):
    from experiments.models import TrainingRun  # noqa: F401 (the reverse relation is loaded)

    path = tmp_path / "blobs.npz"
    path.write_bytes(npz_bytes(x=np.ones((6, 2), np.float32), y=np.arange(6) % 2))
    first, _ = services.dataset_version_ingest(
        dataset_name="blobs", source=services.IngestSource.local_file(path)
    )
    services.dataset_version_fail(version_id=first.pk, error="gave up", keep_source=True)
    second, created = services.dataset_version_ingest(
        dataset_name="blobs", source=services.IngestSource.local_file(path)
    )
    assert created and second.source_spec["staging"] == first.source_spec["staging"]

    services.dataset_version_delete(version=DatasetVersion.objects.get(pk=first.pk))

    assert default_storage.exists(second.source_spec["staging"])
    assert run(second).status == "READY"


@pytest.fixture
def source_bucket(settings):
    import uuid

    client, name = services.s3_source_client(), f"hpml-source-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    settings.INGEST_S3_BUCKETS = [name]
    yield client, name
    for item in client.list_objects_v2(Bucket=name).get("Contents", []):
        client.delete_object(Bucket=name, Key=item["Key"])
    client.delete_bucket(Bucket=name)


@pytest.mark.django_db
def test_an_s3_url_in_a_listed_bucket_is_fetched_by_the_worker(source_bucket, small_npz):
    client, bucket = source_bucket
    client.put_object(Bucket=bucket, Key="exports/blobs.npz", Body=small_npz)
    source = services.IngestSource.url(f"s3://{bucket}/exports/blobs.npz")
    version, _ = services.dataset_version_ingest(dataset_name="lake", source=source)

    version = run(version)

    assert version.status == "READY", version.error
    assert version.size_bytes == len(small_npz) and version.schema["samples"] == 90


@pytest.mark.django_db
def test_s3_urls_outside_the_listed_buckets_are_refused(source_bucket, settings):
    with pytest.raises(services.DatasetError, match="not open to s3:// ingestion"):
        services.IngestSource.url("s3://some-other-bucket/x.npz")
    settings.INGEST_S3_BUCKETS = [settings.AWS_STORAGE_BUCKET_NAME]
    with pytest.raises(services.DatasetError, match="platform's own storage"):
        services.IngestSource.url(f"s3://{settings.AWS_STORAGE_BUCKET_NAME}/datasets/x.npz")
    settings.INGEST_S3_BUCKETS = []
    with pytest.raises(services.DatasetError, match="s3:// ingestion is off"):
        services.IngestSource.url("s3://anything/x.npz")

    assert not DatasetVersion.objects.exists()
