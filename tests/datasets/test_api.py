import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import Dataset, DatasetVersion
from tests.helpers import broker_unreachable, stored_keys


@pytest.fixture
def dataset(api_client):
    return api_client.post("/api/v1/datasets/", {"name": "blobs"}, format="json").json()


def upload(api_client, dataset, content: bytes, name: str = "blobs.npz"):
    return api_client.post(
        f"/api/v1/datasets/{dataset['id']}/versions/",
        {"file": SimpleUploadedFile(name, content)},
        format="multipart",
    )


@pytest.mark.django_db
def test_it_creates_and_lists_datasets(api_client, dataset):
    assert dataset["name"] == "blobs" and dataset["version_count"] == 0

    listing = api_client.get("/api/v1/datasets/").json()

    assert [d["name"] for d in listing["results"]] == ["blobs"]


@pytest.mark.django_db
def test_it_refuses_a_dataset_name_that_is_taken_or_invalid(api_client, dataset):
    taken = api_client.post("/api/v1/datasets/", {"name": "blobs"}, format="json")
    invalid = api_client.post("/api/v1/datasets/", {"name": "a b"}, format="json")

    assert taken.status_code == 400 and invalid.status_code == 400
    assert Dataset.objects.count() == 1


@pytest.mark.django_db
def test_an_npz_upload_answers_202_with_a_pending_version(api_client, dataset, small_npz):
    answer = upload(api_client, dataset, small_npz)

    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["status"] == "PENDING" and body["ref"] == "blobs:1" and len(body["sha256"]) == 64
    assert api_client.get(f"/api/v1/dataset-versions/{body['id']}/").json()["id"] == body["id"]


@pytest.mark.django_db
def test_uploading_the_same_content_again_answers_200_with_the_existing_version(
    api_client, dataset, small_npz
):
    first = upload(api_client, dataset, small_npz).json()
    again = upload(api_client, dataset, small_npz, name="copy.npz")

    assert again.status_code == 200 and again.json()["id"] == first["id"]


@pytest.mark.django_db
def test_a_builtin_data_set_is_ingested_from_json(api_client, dataset):
    answer = api_client.post(
        f"/api/v1/datasets/{dataset['id']}/versions/", {"builtin": "digits"}, format="json"
    )

    assert answer.status_code == 202 and answer.json()["source"] == "builtin:digits"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "fmt", "message"),
    [
        ({}, "json", "exactly one of"),
        ({"builtin": "mnist"}, "json", "unknown built-in dataset 'mnist'"),
        ({"url": "http://example.com/a.npz"}, "json", "not available yet"),
        ({"file": SimpleUploadedFile("a.exe", b"MZ")}, "multipart", "unsupported file type"),
        ({"file": SimpleUploadedFile("a.npz", b"")}, "multipart", "empty"),
    ],
)
def test_a_bad_version_request_is_refused_and_creates_nothing(
    api_client, dataset, payload, fmt, message
):
    answer = api_client.post(f"/api/v1/datasets/{dataset['id']}/versions/", payload, format=fmt)

    assert answer.status_code == 400
    assert message in str(answer.json())
    assert not DatasetVersion.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("dataset_id", ["999", "abc", "1.5", "-1"])
def test_versions_of_an_unknown_or_malformed_dataset_are_404(api_client, dataset_id):
    assert api_client.get(f"/api/v1/datasets/{dataset_id}/versions/").status_code == 404
    assert api_client.get(f"/api/v1/experiments/{dataset_id}/runs/").status_code == 404


@pytest.mark.django_db
def test_versions_are_filtered_by_status_and_file_format_and_format_picks_the_renderer(
    api_client, ready_version
):
    listed = api_client.get("/api/v1/dataset-versions/?file_format=npz&status=READY&format=json")
    none = api_client.get("/api/v1/dataset-versions/?file_format=csv")
    page = api_client.get("/api/v1/dataset-versions/?format=api")
    typo = api_client.get("/api/v1/dataset-versions/?stauts=READY")

    assert [v["id"] for v in listed.json()["results"]] == [ready_version.pk]
    assert none.json()["results"] == [] and page.status_code == 200
    assert typo.status_code == 400 and "stauts" in typo.json()["detail"]


@pytest.mark.django_db
def test_the_dataset_api_needs_credentials(client):
    assert client.get("/api/v1/datasets/").status_code in (401, 403)
    assert client.get("/api/v1/dataset-versions/").status_code in (401, 403)


@pytest.mark.django_db(transaction=True)
def test_an_upload_that_cannot_be_queued_is_503_and_keeps_nothing(api_client, dataset, small_npz):
    with broker_unreachable():
        answer = upload(api_client, dataset, small_npz)

    assert answer.status_code == 503 and "could not queue" in answer.json()["detail"]
    assert DatasetVersion.objects.get().status == "FAILED"
    assert stored_keys() == []
