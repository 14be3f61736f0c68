"""The dataset API: ingest from every source, describe, process, retry, delete and read lineage.

Where a test needs the worker's part it runs the job here (``dataset_version_execute``), as a
worker would, with what it leaves for after commit (storage clean-up) executed.
"""

import io
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from datasets.ingest import dataset_version_execute
from datasets.models import Dataset, DatasetVersion
from tests.conftest import token_client
from tests.datasets.sources import FileServer
from tests.factories import (
    DatasetVersionFactory,
    TeamFactory,
    TrainingRunFactory,
    member,
)
from tests.helpers import broker_unreachable, stored_keys

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CSV = b"a,b,kind\n1,2,cat\n3,4,dog\n5,6,cat\n7,8,dog\n"


@pytest.fixture
def dataset(api_client):
    return api_client.post("/api/v1/datasets/", {"name": "blobs"}, format="json").json()


@pytest.fixture
def work(django_capture_on_commit_callbacks):
    """Run a version's job here as a worker would; the version as it ended."""

    def run(version_id: int) -> DatasetVersion:
        with django_capture_on_commit_callbacks(execute=True):
            dataset_version_execute(version_id=version_id)
        return DatasetVersion.objects.get(pk=version_id)

    return run


def versions_url(dataset) -> str:
    return f"/api/v1/datasets/{dataset['id']}/versions/"


def flat(version_id: int, tail: str = "") -> str:
    return f"/api/v1/dataset-versions/{version_id}/{tail}"


def upload(api_client, dataset, content: bytes, name: str = "blobs.npz", **fields):
    return api_client.post(
        versions_url(dataset),
        {"file": SimpleUploadedFile(name, content), **fields},
        format="multipart",
    )


def post(api_client, dataset, body, **kwargs):
    return api_client.post(versions_url(dataset), body, format="json", **kwargs)


def parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    table = pa.table({"f1": np.arange(40.0), "f2": np.ones(40), "label": np.arange(40) % 2})
    pq.write_table(table, buffer, row_group_size=7)
    return buffer.getvalue()


# --- sources -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_npz_upload_is_staged_then_ingested_and_described(api_client, dataset, small_npz, work):
    answer = upload(api_client, dataset, small_npz)

    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["status"] == "PENDING" and body["ref"] == "blobs:1" and body["team"] == "default"
    assert body["source"] == "upload:blobs.npz" and body["bytes_total"] == len(small_npz)
    staged = [key for key in stored_keys() if key.startswith("staging/default/")]
    assert len(staged) == 1

    work(body["id"])
    ready = api_client.get(flat(body["id"])).json()

    assert ready["status"] == "READY" and ready["progress"] == 1.0, ready["error"]
    assert ready["file"] == f"datasets/default/blobs/{ready['sha256']}.npz"
    assert stored_keys() == [ready["file"]]  # the staged upload is gone
    assert ready["schema"]["samples"] == 90 and ready["schema"]["feature_shape"] == [8]
    assert len(ready["stats"]["features"]) == 8 and set(ready["stats"]["overall"]) >= {"mean"}
    assert ready["stats"]["class_balance"] == pytest.approx({"0": 1 / 3, "1": 1 / 3, "2": 1 / 3})
    preview = ready["preview"]
    assert len(preview["rows"]) == 10 and len(preview["columns"]) == 8
    assert preview["labels"] == [0] * 10
    assert ready["thumbnails"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filename", "content", "label_column", "fmt", "classes"),
    [
        ("pets.csv", CSV, "kind", "csv", ["cat", "dog"]),
        ("t.parquet", parquet_bytes(), "", "parquet", [0, 1]),
    ],
)
def test_csv_and_parquet_uploads_are_read_with_their_label_column(
    api_client, dataset, work, filename, content, label_column, fmt, classes
):
    answer = upload(api_client, dataset, content, filename, label_column=label_column)
    assert answer.status_code == 202, answer.content

    version = work(answer.json()["id"])

    assert version.status == "READY", version.error
    assert version.format == fmt and version.schema["classes"] == classes
    assert version.file.name.endswith(f".{fmt}")


@pytest.mark.django_db
def test_uploading_content_the_dataset_already_holds_answers_200_with_that_version(
    api_client, dataset, small_npz, work
):
    first = upload(api_client, dataset, small_npz).json()
    work(first["id"])

    again = upload(api_client, dataset, small_npz, name="copy.npz")

    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert DatasetVersion.objects.count() == 1
    assert not [key for key in stored_keys() if key.startswith("staging/")]


@pytest.mark.django_db
def test_uploading_content_still_pending_answers_200_with_the_pending_version(
    api_client, dataset, small_npz
):
    first = upload(api_client, dataset, small_npz).json()

    again = upload(api_client, dataset, small_npz, name="copy.npz")

    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert DatasetVersion.objects.count() == 1
    assert len([key for key in stored_keys() if key.startswith("staging/")]) == 1


@pytest.mark.django_db
def test_a_url_is_fetched_by_the_worker(api_client, dataset, small_npz, url_files, work):
    url_files.files["/data/blobs.npz"] = small_npz

    answer = post(api_client, dataset, {"url": url_files.url("/data/blobs.npz")})

    assert answer.status_code == 202, answer.content
    assert answer.json()["source_kind"] == "url" and stored_keys() == []
    version = work(answer.json()["id"])
    assert version.status == "READY", version.error
    assert version.size_bytes == len(small_npz) and version.schema["samples"] == 90


@pytest.mark.django_db
def test_a_query_is_run_by_the_worker(api_client, dataset, settings, sql_source, work):
    settings.SQL_SOURCE_URL = sql_source.dsn

    answer = post(
        api_client,
        dataset,
        {"sql": "SELECT petal, sepal, kind FROM flowers ORDER BY id", "label_column": "kind"},
    )

    assert answer.status_code == 202, answer.content
    version = work(answer.json()["id"])
    assert version.status == "READY", version.error
    assert version.format == "parquet" and version.source_kind == "sql"
    assert version.schema["samples"] == 90 and version.schema["classes"] == [0, 1, 2]


@pytest.mark.django_db
def test_builtin_digits_is_described_with_thumbnails_served_as_png(api_client, dataset, work):
    answer = post(api_client, dataset, {"builtin": "digits"})
    assert answer.status_code == 202 and answer.json()["source"] == "builtin:digits"

    work(answer.json()["id"])
    body = api_client.get(flat(answer.json()["id"])).json()

    assert body["status"] == "READY" and body["schema"]["samples"] == 1797
    assert body["schema"]["num_classes"] == 10 and len(body["stats"]["class_balance"]) == 10
    assert body["thumbnails"] == f"http://testserver{flat(body['id'], 'thumbnails/')}"
    png = api_client.get(body["thumbnails"])
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(PNG_MAGIC)


@pytest.mark.django_db
def test_a_version_without_images_has_no_thumbnails(api_client, ready_version):
    answer = api_client.get(flat(ready_version.pk, "thumbnails/"))

    assert answer.status_code == 404 and "no thumbnails" in answer.json()["detail"]


@pytest.mark.django_db
def test_thumbnails_gone_from_storage_are_a_404_not_a_500(api_client, dataset, work, client, user):
    from django.core.files.storage import default_storage

    answer = post(api_client, dataset, {"builtin": "digits"})
    version = work(answer.json()["id"])
    default_storage.delete(version.thumbnails)
    client.force_login(user)

    api = api_client.get(flat(version.pk, "thumbnails/"))
    admin = client.get(f"/admin/datasets/datasetversion/{version.pk}/thumbnails.png")

    assert api.status_code == 404 and "gone from storage" in api.json()["detail"]
    assert admin.status_code == 404


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "exactly one of"),
        ({"label_column": "y"}, "exactly one of"),
        ({"url": 12}, "Not a valid string"),
        ({"url": ["http://example.com/a.npz"]}, "Not a valid string"),
        ({"url": {"href": "http://example.com/a.npz"}}, "Not a valid string"),
        ({"url": "http://example.com/a.npz", "builtin": "digits"}, "exactly one of"),
        ({"sql": "SELECT 1", "builtin": "digits"}, "exactly one of"),
        ({"builtin": "mnist"}, "unknown built-in dataset 'mnist'"),
        ({"url": "file:///etc/passwd"}, "not file:"),
        ({"url": "ftp://example.com/data.csv"}, "not ftp:"),
        ({"url": "http://127.0.0.1/data.npz"}, "loopback"),
        ({"url": "http://bob:secret@example.com/data.npz"}, "password"),
        ({"url": "http://example.com/data.exe"}, "unsupported file type"),
        ({"sql": "SELECT 1"}, "SQL ingestion is off"),
        ([{"builtin": "digits"}], "Expected a dictionary"),
    ],
    ids=repr,
)
def test_a_bad_json_request_is_refused_and_creates_nothing(api_client, dataset, body, message):
    answer = post(api_client, dataset, body)

    assert answer.status_code == 400, answer.content
    assert message in str(answer.json())
    assert not DatasetVersion.objects.exists() and stored_keys() == []


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_refused(api_client, dataset):
    answer = api_client.post(versions_url(dataset), b'{"url": ', content_type="application/json")

    assert answer.status_code == 400 and not DatasetVersion.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("a.exe", b"MZ", 400, "unsupported file type"),
        ("a.npz", b"", 400, "empty"),
    ],
)
def test_a_bad_upload_is_refused_and_stores_nothing(
    api_client, dataset, name, content, status, message
):
    answer = upload(api_client, dataset, content, name)

    assert answer.status_code == status and message in str(answer.json())
    assert not DatasetVersion.objects.exists() and stored_keys() == []


@pytest.mark.django_db
def test_an_upload_over_the_limit_is_413_and_stores_nothing(
    api_client, dataset, settings, small_npz
):
    settings.DATASET_MAX_UPLOAD_BYTES = 1000

    answer = upload(api_client, dataset, small_npz)

    assert answer.status_code == 413, answer.content
    assert not DatasetVersion.objects.exists() and stored_keys() == []


@pytest.mark.django_db
def test_a_missing_label_column_ends_failed_and_leaves_nothing(api_client, dataset, work):
    answer = upload(api_client, dataset, CSV, "pets.csv", label_column="species")
    assert answer.status_code == 202

    version = work(answer.json()["id"])

    assert version.status == "FAILED" and "no label column 'species'" in version.error
    assert stored_keys() == []
    body = api_client.get(flat(version.pk)).json()
    assert body["status"] == "FAILED" and "species" in body["error"]


@pytest.mark.django_db
def test_a_url_that_answers_404_ends_failed_and_stores_nothing(
    api_client, dataset, url_files, work
):
    answer = post(api_client, dataset, {"url": url_files.url("/missing.npz")})
    assert answer.status_code == 202

    version = work(answer.json()["id"])

    assert version.status == "FAILED" and "404" in version.error
    assert stored_keys() == []


@pytest.mark.django_db
def test_a_url_body_over_the_limit_ends_failed_and_stores_nothing(
    api_client, dataset, url_files, settings, work
):
    settings.DATASET_MAX_UPLOAD_BYTES = 1000
    url_files.files["/big.npz"] = bytes(5000)

    answer = post(api_client, dataset, {"url": url_files.url("/big.npz")})
    version = work(answer.json()["id"])

    assert version.status == "FAILED" and "larger than the limit" in version.error
    assert stored_keys() == []


class _Redirect(BaseHTTPRequestHandler):
    """Answers every GET with a redirect to the path's query (``/x.npz?http://...``)."""

    def do_GET(self):  # noqa: N802 (the http.server name)
        self.send_response(302)
        self.send_header("Location", self.path.partition("?")[2])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def redirector(settings):
    settings.INGEST_URL_ALLOW_PRIVATE = True  # the first hop is this loopback server
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fake_dns(monkeypatch):
    """Names in the returned dict resolve to the address given; other lookups go through."""
    answers, real = {}, socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers or kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port or 80))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.django_db
@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/x.npz", "http://metadata.example/x.npz"],
)
def test_a_redirect_to_a_forbidden_address_ends_failed(
    api_client, dataset, redirector, fake_dns, work, target
):
    fake_dns["metadata.example"] = "169.254.169.254"

    answer = post(api_client, dataset, {"url": f"{redirector}/data.npz?{target}"})
    assert answer.status_code == 202, answer.content

    version = work(answer.json()["id"])

    assert version.status == "FAILED" and "cloud metadata address" in version.error
    assert stored_keys() == []


@pytest.mark.django_db
def test_a_name_resolving_to_loopback_ends_failed_when_private_addresses_are_off(
    api_client, dataset, fake_dns, settings, small_npz, work
):
    settings.INGEST_URL_ALLOW_PRIVATE = False
    with FileServer() as server:
        server.files["/blobs.npz"] = small_npz
        fake_dns["files.example"] = "127.0.0.1"
        url = server.url("/blobs.npz").replace("127.0.0.1", "files.example")

        answer = post(api_client, dataset, {"url": url})
        assert answer.status_code == 202, answer.content
        version = work(answer.json()["id"])

    assert version.status == "FAILED"
    assert "files.example resolves to 127.0.0.1, a loopback address" in version.error
    assert stored_keys() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    ["DELETE FROM flowers", "SELECT 1; DROP TABLE flowers", "UPDATE flowers SET kind = 0"],
)
def test_a_query_that_writes_is_refused_before_it_runs(
    api_client, dataset, settings, sql_source, query
):
    settings.SQL_SOURCE_URL = sql_source.dsn

    answer = post(api_client, dataset, {"sql": query})

    assert answer.status_code == 400, answer.content
    assert not DatasetVersion.objects.exists() and stored_keys() == []
    assert sql_source.count() == 90


@pytest.mark.django_db(transaction=True)
def test_an_upload_that_cannot_be_queued_is_503_and_can_be_retried(api_client, small_npz):
    dataset = api_client.post("/api/v1/datasets/", {"name": "blobs"}, format="json").json()
    with broker_unreachable():
        answer = upload(api_client, dataset, small_npz)

    detail = answer.json()["detail"]
    assert answer.status_code == 503 and "could not queue" in detail and "/retry/" in detail
    version = DatasetVersion.objects.get()
    assert version.status == "FAILED"
    # The failure was not the content's: the upload is kept for a retry.
    assert default_storage.exists(version.source_spec["staging"])

    retried = api_client.post(flat(version.pk, "retry/"))

    assert retried.status_code == 202 and retried.json()["status"] == "PENDING"


# --- process -----------------------------------------------------------------------------------

RECIPE = {"normalize": "minmax", "split": [0.7, 0.15, 0.15], "seed": 1, "stratify": True}


@pytest.mark.django_db
def test_process_queues_a_child_version_that_a_worker_makes(api_client, ready_version, work):
    answer = api_client.post(flat(ready_version.pk, "process/"), RECIPE, format="json")

    assert answer.status_code == 202, answer.content
    child = answer.json()
    assert child["status"] == "PENDING" and child["parent"] == ready_version.pk
    assert child["ref"] == "blobs:2" and child["source_kind"] == "process"
    assert child["recipe"]["spec"]["normalize"] == "minmax"

    version = work(child["id"])

    assert version.status == "READY", version.error
    assert version.parent_id == ready_version.pk
    assert version.recipe["normalize"]["method"] == "minmax"
    assert version.recipe["normalize"]["fitted_on"] == "train"
    # Each class of 30: 0.7/0.15/0.15 is 21/5/4 whole rows (the leftover row to validation).
    assert version.schema["split_sizes"] == {"train": 63, "validation": 15, "test": 12}
    assert version.recipe["split"]["sizes"] == version.schema["split_sizes"]
    assert default_storage.exists(version.file.name)


@pytest.mark.django_db
def test_the_same_recipe_again_answers_200_with_the_child_it_made(api_client, ready_version, work):
    first = api_client.post(flat(ready_version.pk, "process/"), RECIPE, format="json").json()
    pending_again = api_client.post(flat(ready_version.pk, "process/"), RECIPE, format="json")
    work(first["id"])
    # Defaults spelled out, in another order: the same recipe.
    ready_again = api_client.post(
        flat(ready_version.pk, "process/"),
        {"seed": 1, "split": [0.7, 0.15, 0.15], "normalize": "minmax"},
        format="json",
    )

    assert pending_again.status_code == 200 and pending_again.json()["id"] == first["id"]
    assert ready_again.status_code == 200 and ready_again.json()["status"] == "READY"
    assert ready_again.json()["id"] == first["id"]
    assert DatasetVersion.objects.count() == 2


@pytest.mark.django_db
def test_a_reshape_to_images_gets_thumbnails(api_client, dataset, work):
    raw = work(post(api_client, dataset, {"builtin": "digits"}).json()["id"])

    answer = api_client.post(flat(raw.pk, "process/"), {"reshape": [8, 8, 1]}, format="json")
    child = work(answer.json()["id"])

    assert child.status == "READY" and child.schema["feature_shape"] == [8, 8, 1]
    assert api_client.get(flat(child.pk, "thumbnails/"))["Content-Type"] == "image/png"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({}, "does nothing"),
        ({"seed": 3}, "does nothing"),
        ({"normalize": "minmax", "scale": 2}, "unknown recipe step"),
        ({"normalise": "minmax"}, "unknown recipe step"),
        ({"normalize": "zscore"}, "is not a valid choice"),
        ({"split": [0.5, 0.3, 0.3]}, "add up to 1"),
        ({"split": [0.5, 0.5]}, "at least 3 elements"),
        ({"split": "0.7,0.15,0.15"}, "Expected a list"),
        ({"split": [0, 0.5, 0.5]}, "train fraction"),
        ({"reshape": [3, 3]}, "cannot reshape 8 features into [3, 3]"),
        ({"reshape": [0, 8]}, "greater than or equal to 1"),
        ({"reshape": [8]}, "does nothing"),  # the shape it has: no step at all
        ({"seed": -1, "normalize": "minmax"}, "greater than or equal to 0"),
        (["normalize"], "Expected a dictionary"),
    ],
    ids=repr,
)
def test_a_bad_recipe_is_400_and_creates_nothing(api_client, ready_version, recipe, message):
    answer = api_client.post(flat(ready_version.pk, "process/"), recipe, format="json")

    assert answer.status_code == 400, answer.content
    assert message in str(answer.json())
    assert list(DatasetVersion.objects.all()) == [ready_version]


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["PENDING", "INGESTING", "FAILED"])
def test_only_a_ready_version_can_be_processed(api_client, team, status):
    version = DatasetVersionFactory(dataset__team=team, status=status)

    answer = api_client.post(flat(version.pk, "process/"), {"normalize": "minmax"}, format="json")

    assert answer.status_code == 400 and "only READY versions" in answer.json()["detail"]
    assert DatasetVersion.objects.count() == 1


# --- retry -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failed_url_version_is_retried_and_can_then_succeed(
    api_client, dataset, small_npz, url_files, work
):
    created = post(api_client, dataset, {"url": url_files.url("/later.npz")}).json()
    assert work(created["id"]).status == "FAILED"
    url_files.files["/later.npz"] = small_npz  # the file is there now

    answer = api_client.post(flat(created["id"], "retry/"))

    assert answer.status_code == 202, answer.content
    assert answer.json()["status"] == "PENDING" and answer.json()["error"] == ""
    assert work(created["id"]).status == "READY"


@pytest.mark.django_db
def test_retrying_a_version_that_did_not_fail_is_409(api_client, ready_version):
    answer = api_client.post(flat(ready_version.pk, "retry/"))

    assert answer.status_code == 409 and "only FAILED versions" in answer.json()["detail"]
    ready_version.refresh_from_db()
    assert ready_version.status == "READY"


@pytest.mark.django_db
def test_retrying_a_duplicate_or_a_bad_upload_is_409(api_client, dataset, url_files, work):
    first = work(post(api_client, dataset, {"builtin": "digits"}).json()["id"])
    with default_storage.open(first.file.name, "rb") as stored:
        url_files.files["/digits.npz"] = stored.read()
    duplicate = post(api_client, dataset, {"url": url_files.url("/digits.npz")}).json()
    assert work(duplicate["id"]).duplicate_of_id == first.pk
    corrupt = upload(api_client, dataset, b"not a zip", "bad.npz").json()
    assert work(corrupt["id"]).status == "FAILED"

    again = api_client.post(flat(duplicate["id"], "retry/"))
    gone = api_client.post(flat(corrupt["id"], "retry/"))

    assert again.status_code == 409 and "the same as blobs:1" in again.json()["detail"]
    assert gone.status_code == 409 and "upload it again" in gone.json()["detail"]
    assert DatasetVersion.objects.filter(status="FAILED").count() == 2


# --- delete ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_deleting_an_unused_version_removes_it_and_its_objects(
    api_client, dataset, work, committed
):
    version = work(post(api_client, dataset, {"builtin": "digits"}).json()["id"])
    assert sorted(stored_keys()) == sorted([version.file.name, version.thumbnails])

    with committed():
        answer = api_client.delete(flat(version.pk))

    assert answer.status_code == 204
    assert not DatasetVersion.objects.exists() and stored_keys() == []


@pytest.mark.django_db
def test_a_version_a_run_used_is_not_deleted(api_client, ready_version, committed):
    run = TrainingRunFactory(
        dataset_version=ready_version, experiment__team=ready_version.dataset.team
    )

    with committed():
        answer = api_client.delete(flat(ready_version.pk))

    assert answer.status_code == 409
    assert f"training runs used it ({run.pk})" in answer.json()["detail"]
    assert DatasetVersion.objects.filter(pk=ready_version.pk).exists()
    assert default_storage.exists(ready_version.file.name)


@pytest.mark.django_db
def test_a_version_with_processed_children_or_still_pending_is_not_deleted(api_client, team):
    parent = DatasetVersionFactory(dataset__team=team)
    child = DatasetVersionFactory(dataset=parent.dataset, parent=parent)
    pending = DatasetVersionFactory(dataset__team=team, status="PENDING")

    refused = api_client.delete(flat(parent.pk))
    waiting = api_client.delete(flat(pending.pk))

    assert refused.status_code == 409 and child.ref in refused.json()["detail"]
    assert waiting.status_code == 409 and "it is PENDING" in waiting.json()["detail"]
    assert DatasetVersion.objects.count() == 3


@pytest.mark.django_db
def test_a_stored_object_another_version_shares_is_kept(api_client, ready_version, committed):
    sharing = DatasetVersionFactory(
        dataset__team=ready_version.dataset.team,
        sha256=ready_version.sha256,
        file=ready_version.file.name,
    )

    with committed():
        first = api_client.delete(flat(ready_version.pk))
    assert first.status_code == 204 and default_storage.exists(sharing.file.name)

    with committed():
        last = api_client.delete(flat(sharing.pk))
    assert last.status_code == 204 and stored_keys() == []


# --- who may ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "tail", "body"),
    [
        ("get", "", None),
        ("delete", "", None),
        ("post", "process/", {"normalize": "minmax"}),
        ("post", "retry/", None),
        ("get", "lineage/", None),
        ("get", "thumbnails/", None),
    ],
)
def test_another_teams_version_is_404_on_every_endpoint(api_client, method, tail, body):
    theirs = DatasetVersionFactory(dataset__team=TeamFactory(), status="FAILED", thumbnails="x.png")

    answer = getattr(api_client, method)(flat(theirs.pk, tail), body, format="json")

    assert answer.status_code == 404
    assert DatasetVersion.objects.get() == theirs


@pytest.mark.django_db
def test_a_viewer_reads_but_may_not_write(team):
    viewer = token_client(member(team, "viewer"))
    version = DatasetVersionFactory(dataset__team=team)
    failed = DatasetVersionFactory(dataset=version.dataset, status="FAILED")

    writes = [
        viewer.post(f"/api/v1/datasets/{version.dataset.pk}/versions/", {"builtin": "digits"}),
        viewer.post(flat(version.pk, "process/"), {"normalize": "minmax"}, format="json"),
        viewer.post(flat(failed.pk, "retry/")),
        viewer.delete(flat(version.pk)),
    ]

    assert [w.status_code for w in writes] == [403] * 4
    assert viewer.get(flat(version.pk, "lineage/")).status_code == 200
    assert DatasetVersion.objects.count() == 2
    failed.refresh_from_db()
    assert failed.status == "FAILED"


# --- lists ------------------------------------------------------------------------------------


def _count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_version_lists_cost_the_same_queries_for_3_or_12_versions(
    api_client, team, django_assert_max_num_queries
):
    parent = DatasetVersionFactory(dataset__team=team)
    for _ in range(2):
        DatasetVersionFactory(dataset=parent.dataset, parent=parent)
    urls = [
        "/api/v1/dataset-versions/",
        f"/api/v1/datasets/{parent.dataset.pk}/versions/",
        flat(parent.pk),
    ]
    api_client.get("/api/v1/datasets/")  # the token's first use is recorded once
    few = {url: _count_queries(api_client, url) for url in urls}
    for _ in range(9):
        DatasetVersionFactory(dataset=parent.dataset, parent=parent)

    for url in urls:
        with django_assert_max_num_queries(few[url]):
            api_client.get(url)
    assert max(few.values()) <= 6
    assert api_client.get(urls[0]).json()["count"] == 12


def test_versions_of_an_unknown_or_malformed_dataset_are_404(db, api_client):
    for dataset_id in ("999", "abc", "1.5", "-1"):
        assert api_client.get(f"/api/v1/datasets/{dataset_id}/versions/").status_code == 404


@pytest.mark.django_db
def test_versions_are_filtered_by_status_and_file_format(api_client, ready_version):
    listed = api_client.get("/api/v1/dataset-versions/?file_format=npz&status=READY&format=json")
    none = api_client.get("/api/v1/dataset-versions/?file_format=csv")
    typo = api_client.get("/api/v1/dataset-versions/?stauts=READY")

    assert [v["id"] for v in listed.json()["results"]] == [ready_version.pk]
    assert none.json()["results"] == []
    assert typo.status_code == 400 and "stauts" in typo.json()["detail"]


@pytest.mark.django_db
def test_datasets_are_created_listed_and_their_names_checked(api_client, dataset):
    taken = api_client.post("/api/v1/datasets/", {"name": "blobs"}, format="json")
    invalid = api_client.post("/api/v1/datasets/", {"name": "a b"}, format="json")
    listing = api_client.get("/api/v1/datasets/").json()

    assert dataset["name"] == "blobs" and dataset["version_count"] == 0
    assert taken.status_code == 409 and invalid.status_code == 400
    assert [d["name"] for d in listing["results"]] == ["blobs"]
    assert Dataset.objects.count() == 1


@pytest.mark.django_db
def test_the_dataset_api_needs_credentials(client):
    assert client.get("/api/v1/datasets/").status_code in (401, 403)
    assert client.get("/api/v1/dataset-versions/").status_code in (401, 403)
