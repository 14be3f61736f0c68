"""The serving path's bookkeeping: every request counted with its status, the log written off
the request path (bounded, drops counted), and no database work a kept answer can give."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import api_token_create, api_token_revoke
from inference import logbook
from inference.models import PredictionFeedback, PredictionLog, ServingCount
from models_registry.services import model_alias_set, registered_model_describe
from tests.conftest import token_client
from tests.helpers import wait_until

URL = "/api/v1/models/digits/predict/"


def post(client, rows, url=URL, **extra):
    return client.post(
        url, json.dumps({"instances": rows}), content_type="application/json", **extra
    )


def counted() -> dict[tuple, tuple]:
    return {
        (row.team_key, row.model_name, row.version, row.status): (
            row.requests,
            row.instances,
            row.logs_dropped,
        )
        for row in ServingCount.objects.all()
    }


@pytest.mark.django_db
def test_every_request_is_counted_with_its_status_logged_or_not(
    api_client, production, second_version, digits, client
):
    registered_model_describe(model=production.model, description="", log_sample_rate=0.0)
    rows = digits[0][:3].tolist()
    team = production.model.team_id

    assert post(api_client, rows).status_code == 200
    assert post(api_client, rows[:1]).status_code == 200
    assert post(api_client, [[0] * 3]).status_code == 400
    assert post(api_client, rows, url=URL + "?alias=staging").status_code == 409
    assert post(api_client, rows, url="/api/v1/models/nothing/predict/").status_code == 404
    assert post(client, rows, HTTP_AUTHORIZATION="Token hpml_wrong").status_code == 401
    assert post(api_client, rows, url=URL + "?version=x").status_code == 400

    assert not PredictionLog.objects.exists()  # sampled out, and counted all the same
    assert counted() == {
        (team, "digits", 1, 200): (2, 4, 0),
        (team, "digits", 1, 400): (1, 0, 0),
        (team, "digits", 0, 409): (1, 0, 0),
        (0, "nothing", 0, 404): (1, 0, 0),
        (0, "digits", 0, 401): (1, 0, 0),
        (0, "digits", 0, 400): (1, 0, 0),
    }
    stats = api_client.get("/api/v1/models/digits/versions/1/stats/").json()["last_hour"]
    assert (stats["requests"], stats["by_status"], stats["logged"]) == (
        3,
        {"200": 2, "400": 1},
        0,
    )


@pytest.mark.django_db
def test_a_warm_request_reads_nothing_from_the_database(api_client, production, digits, settings):
    settings.PREDICTION_LOG_SAMPLE_RATE = 0.0
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "predict": "off"}
    assert post(api_client, digits[0][:1].tolist()).status_code == 200

    with CaptureQueriesContext(connection) as queries:
        answer = post(api_client, digits[0][:1].tolist())

    assert answer.status_code == 200
    # The request count is the only statement (written by the request itself in the tests).
    assert [q["sql"].split()[0:3] for q in queries.captured_queries] == [
        ["INSERT", "INTO", "inference_servingcount"]
    ]


@pytest.mark.django_db
def test_a_token_revoked_in_this_process_is_refused_at_once(production, user, digits):
    token, key = api_token_create(user=user)
    client = token_client(user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert post(client, digits[0][:1].tolist()).status_code == 200

    api_token_revoke(token=token, actor=user)

    refused = post(client, digits[0][:1].tolist())
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


@pytest.mark.django_db
def test_a_promotion_keeps_the_old_version_answering_until_the_new_one_is_loaded(
    api_client, production, second_version, digits
):
    rows = digits[0][:1].tolist()
    assert post(api_client, rows).json()["version"] == 1

    model_alias_set(model_version=second_version, alias="production")

    # Answered at once, by version 1 while version 2 loads in the background, then by 2.
    assert post(api_client, rows).status_code == 200
    wait_until(lambda: post(api_client, rows).json()["version"] == 2, timeout=60)


@pytest.fixture
def background(settings, monkeypatch):
    """A writer of its own, writing from its thread with its own connection (so the test's
    rows must be committed: transactional tests), flushing only when told to."""
    settings.PREDICTION_LOG_BACKGROUND = True
    settings.PREDICTION_LOG_FLUSH_SECONDS = 60
    writer = logbook.Writer()
    monkeypatch.setattr(logbook, "writer", writer)
    yield writer
    writer.stop()


@pytest.mark.django_db(transaction=True)
def test_the_log_is_written_off_the_request_path_with_ids_known_at_answer(
    api_client, production, digits, background
):
    answers = [post(api_client, digits[0][i : i + 2].tolist()).json() for i in range(3)]

    ids = [answer["id"] for answer in answers]
    assert len(set(ids)) == 3 and not PredictionLog.objects.exists()
    assert background.pending() == 3 and not ServingCount.objects.exists()
    background.flush()
    logged = PredictionLog.objects.in_bulk(ids)
    assert [logged[i].predictions for i in ids] == [a["predictions"] for a in answers]
    assert counted() == {(production.model.team_id, "digits", 1, 200): (3, 6, 0)}


@pytest.mark.django_db(transaction=True)
def test_feedback_right_after_the_answer_finds_its_unwritten_prediction(
    api_client, production, digits, background
):
    answer = post(api_client, digits[0][:2].tolist()).json()

    given = api_client.post(
        f"/api/v1/predictions/{answer['id']}/feedback/",
        json.dumps({"labels": digits[1][:2].tolist()}),
        content_type="application/json",
    )

    assert (
        given.status_code == 201 and PredictionFeedback.objects.get().prediction_id == answer["id"]
    )


@pytest.mark.django_db(transaction=True)
def test_a_full_buffer_drops_log_rows_never_answers_and_counts_the_drops(
    api_client, production, digits, background, settings
):
    settings.PREDICTION_LOG_BUFFER = 1
    answers = [post(api_client, digits[0][:1].tolist()) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert ["id" in a.json() for a in answers] == [True, False, False]
    background.flush()
    assert PredictionLog.objects.count() == 1 and background.stats()["dropped"] == 2
    assert counted() == {(production.model.team_id, "digits", 1, 200): (3, 3, 2)}


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_writes_without_being_told(api_client, production, digits, settings):
    settings.PREDICTION_LOG_BACKGROUND = True
    answer = post(api_client, digits[0][:1].tolist()).json()

    wait_until(lambda: PredictionLog.objects.filter(pk=answer["id"]).exists(), timeout=10)
    wait_until(lambda: ServingCount.objects.filter(status=200).exists(), timeout=10)
    logbook.writer.stop()  # and its connection closed, before the test database is dropped


@pytest.mark.django_db
def test_counts_of_requests_that_found_no_model_are_for_staff_only(
    api_client, production, user, admin_user
):
    from inference.selectors import serving_count_list

    post(api_client, [[0] * 64], url="/api/v1/models/nothing/predict/")
    post(api_client, [[0] * 64])

    mine = serving_count_list(user=user)
    assert [(c.model_name, c.team_slug) for c in mine] == [("digits", "default")]
    assert {c.model_name for c in serving_count_list(user=admin_user)} == {"digits", "nothing"}
