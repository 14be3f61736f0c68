"""The requests side of datasets: what the web process and the commands do before a worker
takes over (check the source, stage an upload, create and queue the version)."""

import io

import numpy as np
import pytest
from django.core.files.storage import default_storage

from datasets import services
from datasets.ingest import dataset_version_execute
from datasets.models import Dataset, DatasetVersion
from hpml_portal.errors import PayloadTooLarge
from tests.conftest import npz_bytes
from tests.helpers import broker_unreachable, queued_tasks, stored_keys


def ingest(content: bytes, filename: str = "data.npz", name: str = "blobs", **kwargs):
    return services.dataset_version_ingest(
        dataset_name=name,
        source=services.IngestSource.upload(io.BytesIO(content), filename, **kwargs),
    )


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_staged_and_queued_for_a_worker(small_npz):
    version, created = ingest(small_npz)

    assert created and version.status == "PENDING" and version.version == 1
    assert version.file.name == "" and version.sha256 == ""  # set by the worker
    staging = version.source_spec["staging"]
    assert staging.startswith("staging/default/") and default_storage.exists(staging)
    assert version.source_spec["size"] == len(small_npz) == version.bytes_total
    assert queued_tasks("default") == [("datasets.tasks.ingest", [version.pk])]
    version.refresh_from_db()
    assert version.queued_at is not None


@pytest.mark.django_db
def test_same_content_in_the_same_dataset_returns_the_existing_version(small_npz):
    first, _ = ingest(small_npz)
    dataset_version_execute(version_id=first.pk)

    again, created = ingest(small_npz, filename="renamed.npz")

    assert not created and again.pk == first.pk
    assert DatasetVersion.objects.count() == 1
    assert not [key for key in stored_keys() if key.startswith("staging/")]


@pytest.mark.django_db
def test_same_content_in_another_dataset_is_a_new_version(small_npz):
    ingest(small_npz, name="one")
    other, created = ingest(small_npz, name="two")

    assert created and other.dataset.name == "two" and other.version == 1


@pytest.mark.django_db
def test_versions_are_numbered_per_dataset(small_npz):
    ingest(small_npz)
    second, _ = ingest(npz_bytes(x=np.ones((4, 2)), y=np.array([0, 1, 0, 1])))

    assert second.version == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("data.txt", b"1,2,3", "unsupported file type '.txt'"),
        ("data.npz", b"", "the file is empty"),
    ],
)
def test_a_refused_upload_creates_nothing(filename, content, message):
    with pytest.raises(services.DatasetError, match=message):
        ingest(content, filename=filename)

    assert not Dataset.objects.exists() and not DatasetVersion.objects.exists()
    assert stored_keys() == []


@pytest.mark.django_db
def test_an_invalid_dataset_name_is_refused(small_npz):
    with pytest.raises(services.DatasetError, match="invalid dataset name"):
        ingest(small_npz, name="no spaces/allowed")

    assert not Dataset.objects.exists() and stored_keys() == []


@pytest.mark.django_db
def test_an_upload_over_the_size_limit_is_stopped_and_leaves_nothing(settings, small_npz):
    settings.DATASET_MAX_UPLOAD_BYTES = 100

    with pytest.raises(PayloadTooLarge, match="larger than the limit"):
        ingest(small_npz)

    assert not Dataset.objects.exists() and stored_keys() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: services.IngestSource.builtin("iris"), "unknown built-in dataset 'iris'"),
        (lambda: services.IngestSource.url("file:///etc/passwd"), "only http://, https://"),
        (lambda: services.IngestSource.url("ftp://h/x.csv"), "only http://, https://"),
        (lambda: services.IngestSource.url("http://127.0.0.1/x.npz"), "loopback"),
        (lambda: services.IngestSource.url("http://u:p@h.example/x.npz"), "password"),
        (lambda: services.IngestSource.sql("SELECT 1"), "SQL ingestion is off"),
    ],
)
def test_a_refused_source_is_refused_before_anything_exists(make, message):
    with pytest.raises(services.DatasetError, match=message):
        make()

    assert not DatasetVersion.objects.exists()


@pytest.mark.django_db
def test_a_url_without_a_known_file_type_is_refused(settings):
    settings.INGEST_URL_ALLOW_PRIVATE = True
    source = services.IngestSource.url("http://127.0.0.1:9/data")

    with pytest.raises(services.DatasetError, match="unsupported file type"):
        services.dataset_version_ingest(dataset_name="d", source=source)

    assert not Dataset.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    ["DELETE FROM t", "SELECT 1; DROP TABLE t", "UPDATE t SET a = 1", "SELECT * INTO x FROM t"],
)
def test_a_query_that_writes_is_refused_before_it_runs(settings, query):
    settings.SQL_SOURCE_URL = "postgresql://postgres@127.0.0.1:5432/nowhere"

    with pytest.raises(services.DatasetError):
        services.IngestSource.sql(query)


@pytest.mark.django_db(transaction=True)
def test_when_the_broker_is_down_the_version_fails_and_keeps_its_upload_for_a_retry(small_npz):
    with broker_unreachable():
        version, created = ingest(small_npz)

    version.refresh_from_db()
    assert created and version.status == "FAILED"
    assert "could not queue the ingestion" in version.error
    assert default_storage.exists(version.source_spec["staging"])

    retried = services.dataset_version_retry(version=version)

    assert retried.status == "PENDING" and retried.error == ""
    assert queued_tasks("default") == [("datasets.tasks.ingest", [version.pk])]


@pytest.mark.django_db
def test_an_ended_version_cannot_be_failed_afterwards(ready_version):
    services.dataset_version_fail(version_id=ready_version.pk, error="late")

    ready_version.refresh_from_db()
    assert ready_version.status == "READY" and ready_version.error == ""
