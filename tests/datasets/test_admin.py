import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import Dataset, DatasetVersion
from experiments.models import TrainingRun


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
def test_the_dataset_pages_list_versions_with_their_schema(admin_client, ready_version):
    versions = admin_client.get("/admin/datasets/datasetversion/")
    datasets = admin_client.get("/admin/datasets/dataset/")
    detail = admin_client.get(f"/admin/datasets/datasetversion/{ready_version.pk}/change/")

    assert versions.status_code == 200 and b"blobs:1" in versions.content
    assert b"Upload a dataset file" in versions.content
    assert datasets.status_code == 200 and b"blobs" in datasets.content
    assert detail.status_code == 200
    filtered = admin_client.get("/admin/datasets/datasetversion/?status__exact=FAILED")
    assert b"blobs:1" not in filtered.content


@pytest.mark.django_db
def test_an_upload_in_the_admin_stores_a_pending_version(admin_client, small_npz):
    answer = admin_client.post(
        "/admin/datasets/datasetversion/upload/",
        {"dataset": "uploaded", "file": SimpleUploadedFile("u.npz", small_npz)},
    )

    assert answer.status_code == 302
    version = DatasetVersion.objects.get(dataset__name="uploaded")
    assert version.status == "PENDING" and version.created_by.username == "root"


@pytest.mark.django_db
def test_a_refused_upload_shows_the_reason_and_creates_nothing(admin_client):
    answer = admin_client.post(
        "/admin/datasets/datasetversion/upload/",
        {"dataset": "uploaded", "file": SimpleUploadedFile("u.txt", b"abc")},
    )

    assert answer.status_code == 200 and b"unsupported file type" in answer.content
    assert not DatasetVersion.objects.exists()


@pytest.mark.django_db
def test_the_upload_page_needs_the_scientist_role(client, team):
    from tests.factories import member

    client.force_login(member(team, "viewer"))

    answer = client.post("/admin/datasets/datasetversion/upload/", {"dataset": "x"})

    assert answer.status_code == 403 and not Dataset.objects.exists()


@pytest.mark.django_db
def test_train_action_asks_for_the_run_then_queues_it(admin_client, ready_version):
    selected = {"action": "train_model", "_selected_action": [ready_version.pk]}

    form = admin_client.post("/admin/datasets/datasetversion/", selected)
    assert form.status_code == 200 and b"Queue training" in form.content
    assert not TrainingRun.objects.exists()

    done = admin_client.post(
        "/admin/datasets/datasetversion/",
        {
            **selected,
            "apply": "1",
            "experiment": "exp",
            "model_name": "blobs",
            "architecture": "mlp",
            "hyperparameters": '{"epochs": 2}',
        },
    )

    assert done.status_code == 302
    run = TrainingRun.objects.get()
    assert run.status == "QUEUED" and run.hyperparameters["epochs"] == 2
    assert run.created_by.username == "root" and run.experiment.name == "exp"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hyperparameters": "{not json"}, b"not valid JSON"),
        ({"hyperparameters": '{"epochs": "x"}'}, b"epochs must be a number"),
        ({"architecture": "cnn"}, b"cnn needs image-shaped features"),
    ],
)
def test_train_action_refuses_bad_input_and_queues_nothing(
    admin_client, ready_version, fields, message
):
    answer = admin_client.post(
        "/admin/datasets/datasetversion/",
        {
            "action": "train_model",
            "_selected_action": [ready_version.pk],
            "apply": "1",
            "experiment": "exp",
            "model_name": "blobs",
            "architecture": "mlp",
            **fields,
        },
        follow=True,
    )

    assert message in answer.content
    assert not TrainingRun.objects.exists()
