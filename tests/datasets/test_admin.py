"""The dataset admin: the upload page with each source, the process page, the retry, delete
and process actions, and the version page with its description and lineage."""

import pytest
from django.contrib.messages import get_messages
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from datasets import services
from datasets.ingest import dataset_version_execute
from datasets.models import Dataset, DatasetVersion
from experiments.models import TrainingRun
from tests.datasets.sources import FileServer
from tests.factories import DatasetVersionFactory, TrainingRunFactory, member
from tests.helpers import stored_keys

UPLOAD = "/admin/datasets/datasetversion/upload/"
CHANGELIST = "/admin/datasets/datasetversion/"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def digits_version(db, django_capture_on_commit_callbacks):
    """The built-in digits, ingested READY (images: it has thumbnails)."""
    version, _ = services.dataset_version_ingest(
        dataset_name="digits", source=services.IngestSource.builtin("digits")
    )
    with django_capture_on_commit_callbacks(execute=True):
        return dataset_version_execute(version_id=version.pk)


def change_url(version_or_pk) -> str:
    pk = getattr(version_or_pk, "pk", version_or_pk)
    return f"/admin/datasets/datasetversion/{pk}/change/"


def process_url(version) -> str:
    return f"/admin/datasets/datasetversion/{version.pk}/process/"


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def act(client, action: str, *versions):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [v.pk for v in versions]})


# --- upload page -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_upload_page_offers_each_source(admin_client, settings):
    settings.SQL_SOURCE_URL = ""
    without_sql = admin_client.get(UPLOAD)
    settings.SQL_SOURCE_URL = "postgresql://reader@db.example/warehouse"
    with_sql = admin_client.get(UPLOAD)

    assert without_sql.status_code == 200 and b"Add a dataset version" in without_sql.content
    for field in (b'name="file"', b'name="url"', b'name="builtin"', b'name="label_column"'):
        assert field in without_sql.content
    assert b'name="sql"' not in without_sql.content and b'name="sql"' in with_sql.content


@pytest.mark.django_db
def test_an_uploaded_file_becomes_a_pending_version(admin_client, team, small_npz):
    answer = admin_client.post(
        UPLOAD,
        {"team": team.pk, "dataset": "uploaded", "file": SimpleUploadedFile("u.npz", small_npz)},
    )

    version = DatasetVersion.objects.get(dataset__name="uploaded")
    assert answer.status_code == 302 and answer["Location"] == change_url(version)
    assert version.status == "PENDING" and version.created_by.username == "root"
    assert version.source == "upload:u.npz" and version.dataset.team == team
    assert said(answer) == ["Queued uploaded:1: a worker is ingesting it."]


@pytest.mark.django_db
def test_a_csv_is_uploaded_with_its_label_column(admin_client, team):
    answer = admin_client.post(
        UPLOAD,
        {
            "team": team.pk,
            "dataset": "pets",
            "file": SimpleUploadedFile("pets.csv", b"a,b,kind\n1,2,cat\n3,4,dog\n"),
            "label_column": "kind",
        },
    )

    assert answer.status_code == 302
    version = DatasetVersion.objects.get()
    assert version.format == "csv" and version.label_column == "kind"
    assert dataset_version_execute(version_id=version.pk).status == "READY"


@pytest.mark.django_db
def test_a_url_becomes_a_pending_version_the_worker_fetches(
    admin_client, team, settings, small_npz
):
    settings.INGEST_URL_ALLOW_PRIVATE = True
    with FileServer() as server:
        server.files["/blobs.npz"] = small_npz
        answer = admin_client.post(
            UPLOAD, {"team": team.pk, "dataset": "web", "url": server.url("/blobs.npz")}
        )
        version = DatasetVersion.objects.get()
        assert answer.status_code == 302 and version.source_kind == "url"

        assert dataset_version_execute(version_id=version.pk).status == "READY"


@pytest.mark.django_db
def test_a_query_becomes_a_pending_version_the_worker_runs(
    admin_client, team, settings, sql_source
):
    settings.SQL_SOURCE_URL = sql_source.dsn

    answer = admin_client.post(
        UPLOAD,
        {
            "team": team.pk,
            "dataset": "flowers",
            "sql": "SELECT petal, sepal, kind FROM flowers",
            "label_column": "kind",
        },
    )

    assert answer.status_code == 302
    version = DatasetVersion.objects.get()
    assert version.source_kind == "sql" and version.format == "parquet"
    assert dataset_version_execute(version_id=version.pk).status == "READY"


@pytest.mark.django_db
def test_a_builtin_data_set_becomes_a_pending_version(admin_client, team):
    answer = admin_client.post(UPLOAD, {"team": team.pk, "dataset": "digits", "builtin": "digits"})

    assert answer.status_code == 302
    assert DatasetVersion.objects.get().source == "builtin:digits"


@pytest.mark.django_db
def test_content_the_dataset_holds_is_named_not_stored_again(admin_client, ready_version):
    with default_storage.open(ready_version.file.name, "rb") as stored:
        content = stored.read()

    answer = admin_client.post(
        UPLOAD, {"dataset": "blobs", "file": SimpleUploadedFile("again.npz", content)}
    )

    assert answer.status_code == 302 and answer["Location"] == change_url(ready_version)
    assert said(answer) == ["blobs:1 already holds this content."]
    assert DatasetVersion.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"file": SimpleUploadedFile("u.txt", b"abc")}, "unsupported file type"),
        ({"url": "file:///etc/passwd"}, "only http://, https:// and s3://"),
        ({"url": "http://10.0.0.7/data.npz"}, "a private address"),
        ({"sql": "DELETE FROM flowers"}, "DELETE"),
        ({}, "give exactly one source"),
        ({"builtin": "digits", "url": "https://example.com/d.npz"}, "give exactly one source"),
        ({"builtin": "mnist"}, "Select a valid choice"),
    ],
    ids=repr,
)
def test_a_refused_upload_shows_the_reason_and_creates_nothing(
    admin_client, settings, fields, message
):
    settings.SQL_SOURCE_URL = "postgresql://reader@db.example/warehouse"  # never reached

    answer = admin_client.post(UPLOAD, {"dataset": "uploaded", **fields})

    assert answer.status_code == 200 and message in answer.content.decode()
    assert not DatasetVersion.objects.exists() and not Dataset.objects.exists()
    assert stored_keys() == []


@pytest.mark.django_db
def test_the_upload_page_needs_the_scientist_role(client, team):
    client.force_login(member(team, "viewer"))

    answer = client.post(UPLOAD, {"dataset": "x", "builtin": "digits"})

    assert answer.status_code == 403 and not Dataset.objects.exists()


# --- process page ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_process_page_shows_the_recipe_form(admin_client, ready_version):
    answer = admin_client.get(process_url(ready_version))

    assert answer.status_code == 200
    page = answer.content.decode()
    assert "Process blobs:1" in page
    for field in ("normalize", "split", "seed", "stratify", "reshape"):
        assert f'name="{field}"' in page


@pytest.mark.django_db
def test_a_valid_recipe_queues_a_child_and_opens_its_page(admin_client, ready_version):
    recipe = {"normalize": "standard", "split": "0.7, 0.15, 0.15", "seed": "3", "stratify": "on"}

    answer = admin_client.post(process_url(ready_version), recipe)

    child = DatasetVersion.objects.get(parent=ready_version)
    assert answer.status_code == 302 and answer["Location"] == change_url(child)
    assert said(answer) == ["Queued blobs:2 from blobs:1."]
    assert child.status == "PENDING" and child.created_by.username == "root"
    assert child.recipe["spec"] == {
        "normalize": "standard",
        "reshape": None,
        "seed": 3,
        "split": [0.7, 0.15, 0.15],
        "stratify": True,
    }

    again = admin_client.post(process_url(ready_version), recipe)

    assert again["Location"] == change_url(child)
    assert "This recipe already made blobs:2 from blobs:1." in said(again)
    assert DatasetVersion.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"normalize": "", "split": "", "seed": "", "reshape": ""}, "the recipe does nothing"),
        ({"split": "0.5,0.5,0.5"}, "split fractions must add up to 1"),
        ({"split": "a,b,c"}, "comma-separated numbers, got &#x27;a,b,c&#x27;"),
        ({"reshape": "3,3"}, "cannot reshape 8 features into [3, 3]"),
        ({"normalize": "zscore"}, "Select a valid choice"),
        ({"normalize": "minmax", "seed": "-1"}, "greater than or equal to 0"),
    ],
    ids=repr,
)
def test_an_invalid_recipe_shows_the_form_again_with_the_error(
    admin_client, ready_version, recipe, message
):
    answer = admin_client.post(process_url(ready_version), recipe)

    assert answer.status_code == 200 and b"Process blobs:1" in answer.content
    assert message in answer.content.decode()
    assert DatasetVersion.objects.count() == 1


@pytest.mark.django_db
def test_a_version_that_is_not_ready_is_not_processed(admin_client, team):
    pending = DatasetVersionFactory(dataset__team=team, status="PENDING")

    answer = admin_client.post(process_url(pending), {"normalize": "minmax"})

    assert answer.status_code == 200 and b"only READY versions can be processed" in answer.content
    assert DatasetVersion.objects.count() == 1


@pytest.mark.django_db
def test_the_process_action_opens_the_page_for_exactly_one_version(admin_client, team):
    one, two = DatasetVersionFactory.create_batch(2, dataset__team=team)

    single = act(admin_client, "process_version", one)
    both = act(admin_client, "process_version", one, two)

    assert single.status_code == 302 and single["Location"] == process_url(one)
    assert both.status_code == 302 and said(both) == ["Select exactly one version to process."]


# --- retry and delete actions ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_retry_action_queues_failed_versions_and_says_why_not_others(admin_client, team):
    failed = DatasetVersionFactory(
        dataset__team=team,
        status="FAILED",
        source_kind="url",
        source_spec={"url": "https://example.com/d.npz"},
        error="the server answered 503",
    )
    ready = DatasetVersionFactory(dataset=failed.dataset)

    answer = act(admin_client, "retry_versions", failed, ready)

    assert answer.status_code == 302
    messages = said(answer)
    assert f"{ready.ref}: {ready.ref} is READY: only FAILED versions are retried" in messages
    assert messages[-1] == "Queued 1 version(s) again."
    failed.refresh_from_db()
    assert failed.status == "PENDING" and failed.error == ""


@pytest.mark.django_db
def test_the_delete_action_deletes_unused_versions_and_names_what_uses_the_others(
    admin_client, ready_version, digits_version, committed
):
    run = TrainingRunFactory(
        dataset_version=ready_version, experiment__team=ready_version.dataset.team
    )
    digits_objects = [digits_version.file.name, digits_version.thumbnails]

    with committed():
        answer = act(admin_client, "delete_versions", ready_version, digits_version)

    messages = said(answer)
    assert messages[-1] == "Deleted 1 version(s)."
    assert f"blobs:1: blobs:1 cannot be deleted: training runs used it ({run.pk})" in messages
    assert list(DatasetVersion.objects.all()) == [ready_version]
    assert not any(default_storage.exists(name) for name in digits_objects)
    assert default_storage.exists(ready_version.file.name)


@pytest.mark.django_db
def test_the_bulk_delete_of_django_is_not_offered(admin_client, ready_version):
    page = admin_client.get(CHANGELIST).content.decode()

    assert 'value="delete_selected"' not in page
    for action in ("retry_versions", "delete_versions", "process_version"):
        assert f'value="{action}"' in page


# --- list and version pages --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_shows_versions_in_the_same_queries_for_1_or_11(
    admin_client, ready_version, team, django_assert_max_num_queries
):
    with CaptureQueriesContext(connection) as one:
        admin_client.get(CHANGELIST)
    for _ in range(10):
        DatasetVersionFactory(
            dataset__team=team,
            parent=ready_version,
            status="INGESTING",
            bytes_done=50,
            bytes_total=100,
        )

    with django_assert_max_num_queries(len(one)):
        versions = admin_client.get(CHANGELIST)

    page = versions.content.decode()
    assert versions.status_code == 200 and "blobs:1" in page and "50% (50 B of 100 B)" in page
    assert "Add a dataset version" in page and UPLOAD in page
    filtered = admin_client.get(f"{CHANGELIST}?status__exact=FAILED")
    assert "blobs:1" not in filtered.content.decode()
    datasets = admin_client.get("/admin/datasets/dataset/")
    assert datasets.status_code == 200 and b"blobs" in datasets.content


@pytest.mark.django_db
def test_the_version_page_shows_its_description_samples_and_lineage(
    admin_client, digits_version, team, django_assert_max_num_queries
):
    child = DatasetVersionFactory(
        dataset=digits_version.dataset,
        parent=digits_version,
        recipe={"spec": {"normalize": "minmax"}},
    )
    TrainingRunFactory(dataset_version=digits_version, experiment__team=team)

    with django_assert_max_num_queries(9):
        answer = admin_client.get(change_url(digits_version))

    assert answer.status_code == 200
    page = answer.content.decode()
    assert "<td>samples</td><td>1797</td>" in page and "<td>features</td><td>64</td>" in page
    assert "<th>feature</th><th>min</th><th>max</th><th>mean</th><th>std</th>" in page
    assert "<th>label</th>" in page  # the first rows
    thumbnails = f"/admin/datasets/datasetversion/{digits_version.pk}/thumbnails.png"
    assert f'<img src="{thumbnails}"' in page
    assert f'href="{change_url(child)}">{child.ref}</a>' in page  # processed into
    assert "trained on by" in page
    png = admin_client.get(thumbnails)
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")


@pytest.mark.django_db
def test_a_processed_version_page_shows_its_recipe_and_parent(
    admin_client, ready_version, django_capture_on_commit_callbacks
):
    admin_client.post(process_url(ready_version), {"normalize": "minmax", "split": "0.8,0.1,0.1"})
    child = DatasetVersion.objects.get(parent=ready_version)
    with django_capture_on_commit_callbacks(execute=True):
        dataset_version_execute(version_id=child.pk)

    page = admin_client.get(change_url(child)).content.decode()

    assert "made from:" in page and f'href="{change_url(ready_version)}">blobs:1</a>' in page
    assert "&quot;method&quot;: &quot;minmax&quot;" in page
    assert "&quot;fitted_on&quot;: &quot;train&quot;" in page
    assert "split" in page and "train: 72" in page


@pytest.mark.django_db
def test_a_version_without_images_has_no_thumbnails_image(admin_client, ready_version):
    page = admin_client.get(change_url(ready_version)).content.decode()
    image = admin_client.get(f"/admin/datasets/datasetversion/{ready_version.pk}/thumbnails.png")

    assert "thumbnails.png" not in page and image.status_code == 404


# --- train action (added by the experiments app) -----------------------------------------------


@pytest.mark.django_db
def test_train_action_asks_for_the_run_then_queues_it(admin_client, ready_version):
    selected = {"action": "train_model", "_selected_action": [ready_version.pk]}

    form = admin_client.post(CHANGELIST, selected)
    assert form.status_code == 200 and b"Queue training" in form.content
    assert not TrainingRun.objects.exists()

    done = admin_client.post(
        CHANGELIST,
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
        CHANGELIST,
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
