"""The model page's "try it" form: a drawing pad for image inputs, and example rows read from
the team's dataset versions through a team-scoped admin view."""

import pytest

from datasets import services as dataset_services
from datasets.ingest import dataset_version_execute
from datasets.models import DatasetVersion
from models_registry import admin_tryit
from tests.factories import DatasetVersionFactory, TeamFactory, member

MODELS = "/admin/models_registry/registeredmodel"
DIGITS_SIGNATURE = {"input_shape": [64], "input_dtype": "float32", "classes": list(range(10))}


@pytest.fixture
def digits_version(db, django_capture_on_commit_callbacks):
    """The built-in digits, ingested READY: 1797 rows of 64 values from 0 to 16."""
    version, _ = dataset_services.dataset_version_ingest(
        dataset_name="digits", source=dataset_services.IngestSource.builtin("digits")
    )
    with django_capture_on_commit_callbacks(execute=True):
        return dataset_version_execute(version_id=version.pk)


@pytest.fixture
def image_model(register, digits_version):
    """A digits model trained on the ingested digits: flat rows of 64 values, 8x8 images."""
    return register("digits", signature=DIGITS_SIGNATURE, dataset_version=digits_version).model


@pytest.fixture
def alice(client, user):
    client.force_login(user)
    return client


def example(client, model, **query):
    return client.get(f"{MODELS}/{model.pk}/example/", query)


def test_a_row_of_a_ready_version_comes_with_its_label(alice, image_model, digits_version, digits):
    answer = example(alice, image_model, dataset_version=digits_version.pk, row=5)

    assert answer.status_code == 200
    body = answer.json()
    assert body["instance"] == digits[0][5].tolist() and body["label"] == int(digits[1][5])
    assert (body["row"], body["rows"]) == (5, 1797)
    assert body["dataset_version"] == body["source"] == digits_version.ref


def test_a_processed_version_gives_the_raw_row_the_model_takes(
    alice, image_model, digits_version, digits, django_capture_on_commit_callbacks
):
    child, _ = dataset_services.dataset_version_process(
        version=digits_version, spec={"normalize": "minmax", "reshape": [8, 8, 1]}
    )
    with django_capture_on_commit_callbacks(execute=True):
        dataset_version_execute(version_id=child.pk)

    body = example(alice, image_model, dataset_version=child.pk, row=1796).json()

    assert body["instance"] == digits[0][1796].tolist() and body["label"] == int(digits[1][1796])
    assert body["source"] == digits_version.ref


def test_a_viewer_of_the_team_reads_rows_too(client, team, image_model, digits_version):
    client.force_login(member(team, "viewer"))

    assert example(client, image_model, dataset_version=digits_version.pk, row=0).status_code == 200


def test_another_teams_version_reads_as_missing(alice, image_model):
    theirs = DatasetVersionFactory(dataset__team=TeamFactory(slug="elsewhere"))

    answer = example(alice, image_model, dataset_version=theirs.pk, row=0)

    assert answer.status_code == 404
    assert answer.json()["detail"] == f"team 'default' has no dataset version {theirs.pk}"


def test_another_teams_person_gets_404_for_the_model(client, image_model, digits_version):
    client.force_login(member(TeamFactory(slug="elsewhere"), "approver"))

    answer = example(client, image_model, dataset_version=digits_version.pk, row=0)

    assert answer.status_code == 404 and "instance" not in answer.content.decode()


@pytest.mark.parametrize(
    "row, detail",
    [
        ("1797", "there is no row 1797: digits:1 has 1797 rows, numbered 0 to 1796"),
        ("-1", "there is no row -1: digits:1 has 1797 rows, numbered 0 to 1796"),
        ("five", "row must be a whole number: digits:1 has 1797 rows, numbered 0 to 1796"),
        ("", "row must be a whole number: digits:1 has 1797 rows, numbered 0 to 1796"),
    ],
)
def test_a_row_out_of_range_or_not_a_number_is_400(alice, image_model, digits_version, row, detail):
    answer = example(alice, image_model, dataset_version=digits_version.pk, row=row)

    assert answer.status_code == 400 and answer.json() == {"detail": detail}


def test_a_version_that_is_not_ready_is_400(alice, team, image_model):
    failed = DatasetVersionFactory(
        dataset__team=team, dataset__name="broken", version=1, status=DatasetVersion.Status.FAILED
    )

    answer = example(alice, image_model, dataset_version=failed.pk, row=0)

    assert answer.status_code == 400
    assert answer.json()["detail"] == "broken:1 is FAILED: rows come from READY versions"


def test_no_dataset_version_named_is_400(alice, image_model):
    answer = example(alice, image_model, dataset_version="x", row=0)

    assert answer.status_code == 400
    assert answer.json()["detail"] == "dataset_version must be the id of a dataset version"


def test_a_version_over_the_size_read_here_is_refused(
    monkeypatch, alice, image_model, digits_version
):
    monkeypatch.setattr(admin_tryit, "EXAMPLE_MAX_BYTES", 1024)

    answer = example(alice, image_model, dataset_version=digits_version.pk, row=0)

    assert answer.status_code == 400
    assert "rows are read here from files up to 1.0\xa0KB" in answer.json()["detail"]


def test_an_image_model_page_has_a_drawing_pad_and_the_rows_it_learnt_from(
    alice, image_model, digits_version, ready_version
):
    html = alice.get(f"{MODELS}/{image_model.pk}/change/").content.decode()

    assert 'id="hpml-tryit-canvas"' in html and "hpml/tryit-pad.js" in html
    assert 'data-height="8" data-width="8" data-low="0.0" data-high="16.0"' in html
    assert "(the range of digits:1)" in html
    assert f'<option value="{digits_version.pk}">digits:1 (trained on)</option>' in html
    assert "blobs:1" not in html  # rows of 8 values: not an input of this model


def test_a_tabular_model_page_keeps_the_plain_form(alice, register, ready_version):
    signature = {"input_shape": [8], "input_dtype": "float32", "classes": [0, 1, 2]}
    model = register("blobs", signature=signature, dataset_version=ready_version).model

    html = alice.get(f"{MODELS}/{model.pk}/change/").content.decode()

    assert 'id="hpml-tryit-body"' in html and "hpml-tryit-canvas" not in html
    assert f'<option value="{ready_version.pk}">blobs:1 (trained on)</option>' in html


@pytest.mark.parametrize(
    "input_shape, data_shapes, drawn, size",
    [
        ([8, 8], [], False, (8, 8)),
        ([28, 28, 1], [], False, (28, 28)),
        ([64], [[64], [8, 8, 1]], False, (8, 8)),  # flat rows reshaped by a recipe
        ([64], [[64]], True, (8, 8)),  # drawn as images when ingested
        ([64], [[64]], False, None),  # a square number of features is not enough
        ([8], [[8]], True, None),
        ([16], [[16]], True, (4, 4)),
        ([28, 28, 3], [], False, None),  # colour: the pad draws one channel
        ([2, 2], [], False, None),
        ([512, 512], [], False, None),
    ],
)
def test_which_inputs_are_images(input_shape, data_shapes, drawn, size):
    assert admin_tryit.image_size(input_shape, data_shapes, drawn) == size


def test_the_model_page_reads_as_many_queries_for_many_versions_as_for_one(
    alice, register, image_model, digits_version
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = f"{MODELS}/{image_model.pk}/change/"
    alice.get(url)
    with CaptureQueriesContext(connection) as few:
        alice.get(url)
    for number in range(2, 7):
        DatasetVersionFactory(
            dataset=digits_version.dataset, version=number, schema={"feature_shape": [64]}
        )
        register("digits", signature=DIGITS_SIGNATURE, dataset_version=digits_version)

    with CaptureQueriesContext(connection) as many:
        html = alice.get(url).content.decode()

    assert html.count("<option") == 6 and len(many) < 20
    assert len(many) == len(few), "\n".join(q["sql"][:160] for q in many.captured_queries)
