"""Feedback on logged predictions, and each version's live numbers from the log."""

import json
import re

import pytest

from inference.models import PredictionFeedback, PredictionLog
from tests.conftest import token_client
from tests.factories import MembershipFactory, TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/digits/predict/"


def predict(client, rows):
    answer = client.post(URL, json.dumps({"instances": rows}), content_type="application/json")
    assert answer.status_code == 200, answer.content
    return answer.json()


def feedback(client, prediction_id, body):
    return client.post(
        f"/api/v1/predictions/{prediction_id}/feedback/",
        json.dumps(body),
        content_type="application/json",
    )


def test_a_logged_answer_carries_its_id_and_takes_feedback_once(api_client, production, digits):
    rows, truth = digits[0][:6].tolist(), digits[1][:6].tolist()
    answer = predict(api_client, rows)

    given = feedback(api_client, answer["id"], {"labels": truth})
    again = feedback(api_client, answer["id"], {"labels": truth})

    assert answer["id"] == PredictionLog.objects.get().pk
    assert given.status_code == 201, given.content
    body = given.json()
    expected = sum(p == t for p, t in zip(answer["predictions"], truth, strict=True))
    assert (body["correct"], body["total"], body["labels"]) == (expected, 6, truth)
    assert again.status_code == 409 and "already has feedback" in again.json()["detail"]
    assert PredictionFeedback.objects.count() == 1


def test_an_unlogged_answer_has_no_id(api_client, production, digits, settings):
    settings.PREDICTION_LOG_SAMPLE_RATE = 0.0

    answer = predict(api_client, digits[0][:1].tolist())

    assert "id" not in answer and not PredictionLog.objects.exists()


@pytest.mark.parametrize(
    ("labels", "status", "message"),
    [
        ([1, 2], 400, "give one label per instance: prediction .* had 3, got 2"),
        ("1,2,3", 400, "had 3, got str"),
        ([1, 2, 10], 400, r"labels\[2\]: 10 is not one of the model's classes"),
        ([1, "two", 3], 400, r"labels\[1\]: 'two' is not one of"),
        ([1, True, 3], 400, r"labels\[1\]: True is not one of"),
    ],
)
def test_bad_feedback_is_refused_and_records_nothing(
    api_client, production, digits, labels, status, message
):
    answer = predict(api_client, digits[0][:3].tolist())

    refused = feedback(api_client, answer["id"], {"labels": labels})

    assert refused.status_code == status and re.search(message, refused.json()["detail"])
    assert not PredictionFeedback.objects.exists()


def test_feedback_without_labels_is_400(api_client, production, digits):
    answer = predict(api_client, digits[0][:1].tolist())

    assert feedback(api_client, answer["id"], {}).status_code == 400
    assert feedback(api_client, answer["id"], ["x"]).status_code == 400


def test_feedback_on_a_refused_prediction_is_refused(api_client, production):
    api_client.post(URL, json.dumps({"instances": [[0] * 3]}), content_type="application/json")
    rejected = PredictionLog.objects.get()

    refused = feedback(api_client, rejected.pk, {"labels": [0]})

    assert refused.status_code == 400 and "was refused" in refused.json()["detail"]


def test_an_unknown_or_another_teams_prediction_reads_as_missing(api_client, production, digits):
    answer = predict(api_client, digits[0][:1].tolist())
    outsider = UserFactory()
    MembershipFactory(team=TeamFactory(), user=outsider, role="scientist")

    unknown = feedback(api_client, 999999, {"labels": [0]})
    other = feedback(token_client(outsider), answer["id"], {"labels": [0]})

    assert unknown.status_code == 404 and other.status_code == 404
    assert not PredictionFeedback.objects.exists()


def test_a_predict_only_token_gives_feedback_on_its_own_models_predictions(
    production, digits, team
):
    scientist = member(team, "scientist")
    token = token_client(scientist, predict_models=["default/digits"])
    answer = predict(token, digits[0][:2].tolist())

    given = feedback(token, answer["id"], {"labels": digits[1][:2].tolist()})

    assert given.status_code == 201


def test_stats_count_requests_latency_and_live_accuracy(api_client, production, digits):
    rows, truth = digits[0][:10].tolist(), digits[1][:10].tolist()
    first = predict(api_client, rows[:4])
    predict(api_client, rows[4:])
    api_client.post(URL, json.dumps({"instances": [[0] * 3]}), content_type="application/json")
    feedback(api_client, first["id"], {"labels": truth[:4]})
    wrong = [(label + 1) % 10 for label in first["predictions"]]  # every one wrong
    second_id = PredictionLog.objects.filter(instances=6).get().pk
    feedback(api_client, second_id, {"labels": [wrong[0]] * 6})

    stats = api_client.get("/api/v1/models/digits/versions/1/stats/").json()

    hour = stats["last_hour"]
    assert (stats["model"], stats["version"], stats["sample_rate"]) == ("digits", 1, 1.0)
    assert (hour["requests"], hour["rejected"], hour["instances"]) == (3, 1, 10)
    latency = hour["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
    right = sum(p == t for p, t in zip(first["predictions"], truth[:4], strict=True))
    logged = PredictionLog.objects.get(pk=second_id).predictions
    right += sum(p == wrong[0] for p in logged)
    assert hour["feedback"] == {"predictions": 2, "labels": 10, "accuracy": right / 10}
    assert stats["last_day"] == hour


def test_stats_are_readable_by_viewers_and_not_by_other_teams(production, team):
    viewer = token_client(member(team, "viewer")).get("/api/v1/models/digits/versions/1/stats/")
    outsider = UserFactory()
    MembershipFactory(team=TeamFactory(), user=outsider, role="viewer")
    other = token_client(outsider).get("/api/v1/models/digits/versions/1/stats/")

    assert viewer.status_code == 200 and viewer.json()["last_hour"]["requests"] == 0
    assert viewer.json()["last_hour"]["latency_ms"] == {"p50": None, "p95": None, "p99": None}
    assert other.status_code == 404


def test_the_version_page_shows_its_serving_numbers(client, admin_user, production, digits):
    client.force_login(admin_user)
    token = token_client(admin_user)
    predict(token, digits[0][:2].tolist())

    page = client.get(f"/admin/models_registry/modelversion/{production.pk}/change/")

    assert page.status_code == 200 and "last hour: 1 requests (0 rejected)" in page.content.decode()


def test_a_models_own_sample_rate_wins_over_the_setting(api_client, production, digits):
    from models_registry.services import registered_model_describe

    model = production.model
    registered_model_describe(model=model, description="", log_sample_rate=0.0)

    answer = predict(api_client, digits[0][:1].tolist())
    stats = api_client.get("/api/v1/models/digits/versions/1/stats/").json()

    assert "id" not in answer and not PredictionLog.objects.exists()
    assert stats["sample_rate"] == 0.0


def test_the_admin_sets_a_models_sample_rate_within_0_and_1(client, admin_user, production):
    client.force_login(admin_user)
    url = f"/admin/models_registry/registeredmodel/{production.model.pk}/change/"

    page = client.get(url).content.decode()
    # The page's inlines (aliases, their history) post their hidden fields too.
    hidden = re.findall(r'<input type="hidden" name="([\w-]+)" value="([^"]*)"', page)
    management = {name: value for name, value in hidden if name != "csrfmiddlewaretoken"}

    refused = client.post(url, {**management, "description": "", "log_sample_rate": "1.5"})
    saved = client.post(url, {**management, "description": "d", "log_sample_rate": "0.25"})

    production.model.refresh_from_db()
    assert refused.status_code == 200 and "less than or equal to 1" in refused.content.decode()
    assert saved.status_code == 302 and production.model.log_sample_rate == 0.25
