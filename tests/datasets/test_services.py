import io
import zipfile

import numpy as np
import pytest
from django.core.files.storage import default_storage

from datasets import services
from datasets.models import Dataset, DatasetVersion
from tests.conftest import npz_bytes
from tests.helpers import broker_unreachable, queued_tasks, stored_keys


def _zip_of(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def ingest(content: bytes, filename: str = "data.npz", name: str = "blobs", **kwargs):
    return services.dataset_version_ingest(
        dataset_name=name,
        source=services.IngestSource.upload(io.BytesIO(content), filename, **kwargs),
    )


@pytest.mark.django_db(transaction=True)
def test_it_stores_the_file_under_its_sha256_and_queues_the_check(small_npz):
    version, created = ingest(small_npz)

    assert created and version.status == "PENDING" and version.version == 1
    assert version.file.name == f"datasets/default/blobs/{version.sha256}.npz"
    assert default_storage.exists(version.file.name)
    assert version.size_bytes == len(small_npz)
    assert queued_tasks("default") == [("datasets.tasks.ingest", [version.pk])]


@pytest.mark.django_db
def test_the_check_records_schema_and_stats(small_npz):
    version, _ = ingest(small_npz)

    version = services.dataset_version_ingest_file(version_id=version.pk)

    assert version.status == "READY" and version.finished_at is not None
    assert version.schema["samples"] == 90
    assert version.schema["feature_shape"] == [8]
    assert version.schema["classes"] == [0, 1, 2]
    assert version.schema["class_counts"] == {"0": 30, "1": 30, "2": 30}
    assert version.stats["max"] > version.stats["min"]


@pytest.mark.django_db
def test_builtin_digits_is_ingested_from_the_installed_package():
    version, created = services.dataset_version_ingest(
        dataset_name="digits", source=services.IngestSource.builtin("digits")
    )
    version = services.dataset_version_ingest_file(version_id=version.pk)

    assert created and version.source == "builtin:digits"
    assert version.schema["samples"] == 1797 and version.schema["feature_shape"] == [64]


@pytest.mark.django_db
def test_same_content_in_the_same_dataset_returns_the_existing_version(small_npz):
    first, _ = ingest(small_npz)
    again, created = ingest(small_npz, filename="renamed.npz")

    assert not created and again.pk == first.pk
    assert DatasetVersion.objects.count() == 1


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
    ("content", "message"),
    [
        (b"this is not a zip file", "not a valid .npz file"),
        (npz_bytes(features=np.ones((3, 2))), "needs arrays named 'x'"),
        (npz_bytes(x=np.ones((3, 2)), y=np.array([0, 1])), "3 feature rows but 2 labels"),
        (npz_bytes(x=np.array([[1.0, np.nan]]), y=np.array([0])), "NaN or infinite"),
        (npz_bytes(x=np.ones(3), y=np.array([0, 1, 2])), "at least 2 dimensions"),
        (npz_bytes(x=np.ones((3, 0)), y=np.array([0, 1, 2])), "the samples have no features"),
        (_zip_of(x=b"not an array", y=b"nor this"), "must be saved NumPy arrays"),
    ],
)
def test_a_bad_file_ends_failed_with_a_readable_error_and_leaves_no_object(
    content, message, django_capture_on_commit_callbacks
):
    version, _ = ingest(content)
    stored = version.file.name

    with django_capture_on_commit_callbacks(execute=True):
        version = services.dataset_version_ingest_file(version_id=version.pk)

    assert version.status == "FAILED"
    assert message in version.error
    assert version.file.name == ""
    assert not default_storage.exists(stored)


def _check_and_commit(version):
    """Run the check, and the after-commit work (object removal) it schedules."""
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.dataset_version_ingest_file(version_id=version.pk)


@pytest.mark.django_db
def test_a_file_with_pickled_objects_is_refused_and_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}, {"b": 2}], dtype=object), y=np.array([0, 1]))
    version, _ = ingest(path.read_bytes())
    stored = version.file.name

    version = _check_and_commit(version)

    assert version.status == "FAILED"
    assert "pickled Python objects" in version.error
    assert not default_storage.exists(stored)


@pytest.mark.django_db
def test_a_stored_file_that_changed_fails_its_sha256_check(small_npz):
    version, _ = ingest(small_npz)
    default_storage.delete(version.file.name)
    default_storage.save(version.file.name, io.BytesIO(b"tampered"))

    version = _check_and_commit(version)

    assert version.status == "FAILED" and "does not match its sha256" in version.error


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

    assert not Dataset.objects.exists()


@pytest.mark.django_db
def test_an_upload_over_the_size_limit_is_refused(settings, small_npz):
    settings.DATASET_MAX_UPLOAD_BYTES = 100

    with pytest.raises(services.DatasetError, match="larger than the limit"):
        ingest(small_npz)

    assert not Dataset.objects.exists() and stored_keys() == []


@pytest.mark.django_db
def test_a_csv_is_read_with_its_label_column():
    content = b"a,b,kind\n1,2,cat\n3,4,dog\n5,6,cat\n"
    version, _ = ingest(content, filename="pets.csv", label_column="kind")

    version = services.dataset_version_ingest_file(version_id=version.pk)

    assert version.status == "READY", version.error
    assert version.schema["classes"] == ["cat", "dog"]
    assert version.schema["feature_shape"] == [2]


@pytest.mark.django_db
def test_a_csv_without_the_label_column_fails_and_says_which_columns_it_has():
    version, _ = ingest(b"a,b\n1,2\n", filename="t.csv")

    version = _check_and_commit(version)

    assert version.status == "FAILED"
    assert "no label column 'label'" in version.error and "a, b" in version.error


@pytest.mark.django_db
def test_a_version_that_has_ended_is_not_checked_again(small_npz):
    version, _ = ingest(small_npz)
    version = services.dataset_version_ingest_file(version_id=version.pk)
    default_storage.delete(version.file.name)  # a second check would now fail

    again = services.dataset_version_ingest_file(version_id=version.pk)

    assert again.status == "READY" and again.finished_at == version.finished_at


@pytest.mark.django_db
def test_an_ended_version_cannot_be_failed_afterwards(small_npz):
    version, _ = ingest(small_npz)
    services.dataset_version_ingest_file(version_id=version.pk)
    services.dataset_version_fail(version_id=version.pk, error="late")

    version.refresh_from_db()
    assert version.status == "READY" and version.error == ""


@pytest.mark.django_db(transaction=True)
def test_when_the_broker_is_down_the_version_fails_and_leaves_no_object(small_npz):
    with broker_unreachable():
        version, created = ingest(small_npz)

    version.refresh_from_db()
    assert created and version.status == "FAILED"
    assert "could not queue the ingestion" in version.error
    assert stored_keys() == []
