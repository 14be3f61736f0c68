import io
import json

import pytest
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from inference import loading as serving_models
from inference.models import PredictionLog
from models_registry.services import model_alias_set

URL = "/api/v1/models/digits/predict/"


def predict(client, body, url=URL):
    return client.post(url, json.dumps(body), content_type="application/json")


def assert_no_success_logged():
    assert not PredictionLog.objects.filter(outcome=PredictionLog.Outcome.OK).exists()


def test_it_predicts_with_the_production_version(api_client, production, digits, user):
    x, y = digits
    rows = x[:20].tolist()

    response = predict(api_client, {"instances": rows})

    assert response.status_code == 200, response.data
    data = response.json()
    assert data["model"] == "digits" and data["version"] == 1
    assert len(data["predictions"]) == 20 and set(data["predictions"]) <= set(range(10))
    hits = sum(p == label for p, label in zip(data["predictions"], y[:20], strict=True))
    assert hits >= 16
    assert len(data["probabilities"]) == 20
    for row, label in zip(data["probabilities"], data["predictions"], strict=True):
        assert len(row) == 10 and abs(sum(row) - 1) < 1e-3
        assert row.index(max(row)) == label


def test_a_success_is_logged_once_with_the_version_and_instance_count(
    api_client, production, digits, user
):
    rows = digits[0][:7].tolist()

    response = predict(api_client, {"instances": rows})

    log = PredictionLog.objects.get()
    assert log.outcome == PredictionLog.Outcome.OK and log.error == ""
    assert log.model_version == production and log.model_name == "digits"
    assert log.requested == "alias:production" and log.instances == 7
    assert log.user == user and log.latency_ms > 0
    # The log keeps a sample, not the whole request.
    assert log.inputs_sample == rows[:5]
    assert log.predictions_sample == response.json()["predictions"][:5]


def test_inputs_is_accepted_as_well_as_instances(api_client, production, digits):
    rows = digits[0][:3].tolist()

    by_inputs = predict(api_client, {"inputs": rows})
    by_instances = predict(api_client, {"instances": rows})

    assert by_inputs.status_code == 200
    first, second = by_inputs.json(), by_instances.json()
    assert first.pop("id") != second.pop("id")  # each logged request has its own
    assert first == second


def test_a_version_is_chosen_by_number(api_client, production, second_version, digits):
    rows = digits[0][:2].tolist()

    assert predict(api_client, {"instances": rows}).json()["version"] == 1
    response = predict(api_client, {"instances": rows}, f"{URL}?version=2")

    assert response.status_code == 200 and response.json()["version"] == 2
    assert PredictionLog.objects.filter(requested="version:2", model_version=second_version)


def test_a_version_is_chosen_by_alias(api_client, production, second_version, digits):
    model_alias_set(model_version=second_version, alias="staging")

    response = predict(api_client, {"instances": digits[0][:2].tolist()}, f"{URL}?alias=staging")

    assert response.status_code == 200 and response.json()["version"] == 2
    assert PredictionLog.objects.get().requested == "alias:staging"


def test_a_version_by_number_needs_no_alias(api_client, model_version, digits):
    response = predict(api_client, {"instances": digits[0][:1].tolist()}, f"{URL}?version=1")

    assert response.status_code == 200 and response.json()["version"] == 1


def test_the_model_is_loaded_once_per_process(api_client, production, digits):
    rows = digits[0][:2].tolist()
    predict(api_client, {"instances": rows})
    loaded = serving_models.model_runtime_get(production)
    size = len(serving_models._cache())

    predict(api_client, {"instances": rows})
    predict(api_client, {"instances": rows}, f"{URL}?version=1")

    assert len(serving_models._cache()) == size
    assert serving_models.model_runtime_get(production) is loaded


def test_a_huge_rejected_request_is_logged_without_its_rows(api_client, production):
    rows = [[0.0] * 5000 for _ in range(5)]  # wrong size, and far too big to keep

    response = predict(api_client, {"instances": rows})

    assert response.status_code == 400
    log = PredictionLog.objects.get()
    assert log.outcome == PredictionLog.Outcome.REJECTED and log.inputs_sample == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": [[1.0] * 64, [1.0] * 63]}, "instance 1: expected 64 numbers, got 63 values"),
        ({"instances": [[1.0] * 65]}, "instance 0: expected 64 numbers, got 65 values"),
        ({"instances": [[0] * 63 + ["seven"]]}, "instance 0: 'seven' is not a number"),
        ({"instances": [[0] * 64, [0] * 63 + [None]]}, "instance 1: None is not a number"),
        ({"instances": [[0] * 63 + [True]]}, "instance 0: True is not a number"),
        ({"instances": [[0] * 63 + [2**64]]}, "instance 0: a number is out of range"),
        ({"instances": [[0] * 64, 5]}, "instance 1: expected a list of 64 numbers, got int"),
        ({"instances": []}, "instances must be a non-empty list of rows"),
        ({"inputs": "1,2,3"}, "instances must be a non-empty list of rows"),
        ({"instances": None}, "instances must be a non-empty list of rows"),
    ],
)
def test_a_bad_row_is_400_naming_the_problem_and_is_logged_as_rejected(
    body, message, api_client, production
):
    response = predict(api_client, body)

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert_no_success_logged()
    rejected = PredictionLog.objects.get()
    assert rejected.outcome == PredictionLog.Outcome.REJECTED and message in rejected.error


def test_an_infinite_value_is_400_and_is_logged_as_rejected(api_client, production):
    # 1e400 is valid JSON that no float can hold: it arrives as infinity.
    body = '{"instances": [[' + ", ".join(["0"] * 63 + ["1e400"]) + "]]}"

    response = api_client.post(URL, body, content_type="application/json")

    assert response.status_code == 400
    assert "instance 0: values must be finite numbers" in response.json()["detail"]
    assert_no_success_logged()
    assert PredictionLog.objects.get().outcome == PredictionLog.Outcome.REJECTED


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rows": [[0] * 64]}, 'send one of {"instances": [...]}, {"inputs": [...]}'),
        ({}, "dataframe_split"),
        ([[0] * 64], "not a JSON list"),
        ({"instances": [[0] * 64], "inputs": [[0] * 64]}, "got 'instances', 'inputs'"),
        ({"instances": [[0] * 64], "rows": 1}, "unknown field 'rows'"),
    ],
)
def test_a_body_without_one_known_format_is_400_and_logged_as_rejected(
    body, message, api_client, production
):
    response = predict(api_client, body)

    assert response.status_code == 400 and message in response.json()["detail"]
    assert_no_success_logged()


def test_a_body_that_is_not_json_is_400(api_client, production):
    response = api_client.post(URL, "{instances: [", content_type="application/json")

    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    assert not PredictionLog.objects.exists()


@pytest.mark.parametrize("version", ["two", "-1", "1.0", "", "²"])
def test_a_version_that_is_not_a_whole_number_is_400(version, api_client, production, digits):
    response = predict(api_client, {"instances": [[0] * 64]}, f"{URL}?version={version}")

    assert response.status_code == 400
    assert response.json()["detail"] == f"version must be a whole number, got {version!r}"
    assert not PredictionLog.objects.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1/models/nope/predict/", "there is no model named 'nope'"),
        ("/api/v1/models/nope/predict/?version=1", "there is no model named 'nope'"),
        (f"{URL}?version=9", "model 'digits' has no version 9"),
        (f"{URL}?version={10**20}", f"model 'digits' has no version {10**20}"),
    ],
)
def test_an_unknown_model_or_version_is_404(url, message, api_client, production):
    response = predict(api_client, {"instances": [[0] * 64]}, url)

    assert response.status_code == 404 and response.json()["detail"] == message
    assert not PredictionLog.objects.exists()


def test_a_model_without_a_production_version_is_409(api_client, model_version):
    response = predict(api_client, {"instances": [[0] * 64]})

    assert response.status_code == 409
    assert "model 'digits' has no 'production' alias" in response.json()["detail"]
    assert not PredictionLog.objects.exists()


def test_an_alias_that_points_nowhere_is_409(api_client, production):
    response = predict(api_client, {"instances": [[0] * 64]}, f"{URL}?alias=canary")

    assert response.status_code == 409 and "no 'canary' alias" in response.json()["detail"]
    assert not PredictionLog.objects.exists()


def test_a_batch_over_the_limit_is_413(api_client, production, settings):
    settings.PREDICT_MAX_BATCH = 2

    response = predict(api_client, {"instances": [[0] * 64] * 3})

    assert response.status_code == 413
    assert response.json()["detail"] == "3 instances is over the limit of 2 per request"
    assert_no_success_logged()


def test_a_body_over_the_limit_is_413_before_it_is_read(api_client, production, settings):
    settings.PREDICT_MAX_BODY_BYTES = 1000

    response = predict(api_client, {"instances": [[0.5] * 64] * 10})

    assert response.status_code == 413
    assert response.json()["detail"] == "the body is over the limit of 1000 bytes"
    assert not PredictionLog.objects.exists()


def test_a_stored_model_that_was_altered_is_never_served(api_client, model_version):
    model_alias_set(model_version=model_version, alias="production")
    default_storage.delete(model_version.artifact.name)
    default_storage.save(model_version.artifact.name, io.BytesIO(b"not the model"))

    response = predict(api_client, {"instances": [[0] * 64]})

    assert response.status_code == 503
    assert "the model cannot be served" in response.json()["detail"]
    assert "does not match" in response.json()["detail"]
    assert not PredictionLog.objects.exists()


def test_a_model_whose_file_is_gone_answers_503(api_client, model_version):
    model_alias_set(model_version=model_version, alias="production")
    default_storage.delete(model_version.artifact.name)

    response = predict(api_client, {"instances": [[0] * 64]})

    assert response.status_code == 503
    assert "missing from storage" in response.json()["detail"]
    assert not PredictionLog.objects.exists()


def test_requests_never_go_through_model_predict(api_client, production, digits, monkeypatch):
    import keras

    def refuse(*args, **kwargs):
        raise AssertionError("model.predict() was called on the request path")

    monkeypatch.setattr(keras.Model, "predict", refuse)
    x, _ = digits

    response = predict(api_client, {"instances": x[:4].tolist()})

    assert response.status_code == 200 and len(response.json()["predictions"]) == 4


def test_predictions_need_credentials(production, digits):
    response = predict(APIClient(), {"instances": digits[0][:1].tolist()})

    assert response.status_code == 401
    assert not PredictionLog.objects.exists()


def test_with_a_zero_sample_rate_nothing_is_logged(api_client, production, digits, settings):
    settings.PREDICTION_LOG_SAMPLE_RATE = 0

    ok = predict(api_client, {"instances": digits[0][:2].tolist()})
    rejected = predict(api_client, {"instances": [[0] * 3]})

    assert (ok.status_code, rejected.status_code) == (200, 400)
    assert not PredictionLog.objects.exists()


# --- MLflow's scoring formats ------------------------------------------------------------------

PIXELS = [f"pixel_{i}" for i in range(64)]


@pytest.fixture
def named(model_version):
    """Version 2 of "digits", in production, whose signature names its 64 features."""
    from models_registry.services import Artifact, model_version_register

    version = model_version_register(
        model_name="digits",
        artifact=Artifact(model_version.artifact.name, model_version.sha256, 1),
        signature={**model_version.signature, "feature_names": PIXELS},
        metrics={},
    )
    model_alias_set(model_version=version, alias="production")
    return version


def test_dataframe_split_and_records_score_as_the_same_rows(api_client, named, digits):
    rows = digits[0][:4].tolist()
    shuffled = PIXELS[::-1]  # any column order: they are matched by name
    split = {"columns": shuffled, "data": [row[::-1] for row in rows]}
    records = [dict(zip(PIXELS, row, strict=True)) for row in rows]

    by_rows = predict(api_client, {"instances": rows}).json()
    by_split = predict(api_client, {"dataframe_split": split}).json()
    by_records = predict(api_client, {"dataframe_records": records}).json()

    assert by_rows["version"] == 2
    assert by_split["probabilities"] == by_rows["probabilities"]
    assert by_records["probabilities"] == by_rows["probabilities"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"dataframe_split": {"columns": PIXELS[:-1], "data": [[0] * 63]}}, "missing column"),
        (
            {"dataframe_split": {"columns": [*PIXELS, "extra"], "data": [[0] * 65]}},
            "unknown column 'extra'",
        ),
        (
            {"dataframe_split": {"columns": ["Pixel_0", *PIXELS[1:]], "data": [[0] * 64]}},
            "missing column 'pixel_0'; unknown column 'Pixel_0'",
        ),
        ({"dataframe_records": [dict.fromkeys(PIXELS[1:], 0)]}, "missing column 'pixel_0'"),
        (
            {"dataframe_records": [dict.fromkeys(PIXELS, 0), dict.fromkeys(PIXELS[:-1], 0)]},
            "dataframe_records[1]: missing key 'pixel_63'",
        ),
        (
            {"dataframe_records": [dict.fromkeys(PIXELS, "dark")]},
            "instance 0: 'dark' is not a number",
        ),
    ],
)
def test_a_table_that_does_not_fit_is_400_and_logged_as_rejected(
    api_client, named, payload, message
):
    response = predict(api_client, payload)

    assert response.status_code == 400 and message in response.json()["detail"]
    assert_no_success_logged()
    assert PredictionLog.objects.get().outcome == PredictionLog.Outcome.REJECTED


def test_invocations_answers_as_mlflow_models_serve_does(api_client, named, digits):
    rows = digits[0][:3].tolist()

    answer = api_client.post(
        "/api/v1/models/digits/invocations",
        json.dumps({"dataframe_split": {"columns": PIXELS, "data": rows}}),
        content_type="application/json",
    )
    native = predict(api_client, {"instances": rows}).json()
    refused = api_client.post(
        "/api/v1/models/digits/invocations",
        json.dumps({"inputs": [[0] * 63]}),
        content_type="application/json",
    )

    assert answer.status_code == 200 and answer.json() == {"predictions": native["probabilities"]}
    assert refused.status_code == 400 and "expected 64 numbers" in refused.json()["detail"]


def test_invocations_needs_a_token_and_hides_other_teams_models(named, digits):
    from tests.conftest import token_client
    from tests.factories import MembershipFactory, TeamFactory, UserFactory

    body = json.dumps({"inputs": digits[0][:1].tolist()})
    outsider = UserFactory()
    MembershipFactory(team=TeamFactory(), user=outsider, role="predictor")

    anonymous = APIClient().post(
        "/api/v1/models/digits/invocations", body, content_type="application/json"
    )
    other = token_client(outsider).post(
        "/api/v1/models/digits/invocations", body, content_type="application/json"
    )

    assert anonymous.status_code == 401 and other.status_code == 404


# --- the browsable GET -------------------------------------------------------------------------


def test_get_describes_what_a_post_would_use_with_a_body_ready_to_send(api_client, named):
    answer = api_client.get(URL)
    by_version = api_client.get(f"{URL}?version=1")

    assert answer.status_code == 200
    body = answer.json()
    assert (body["model"], body["alias"], body["version"]) == ("digits", "production", 2)
    assert body["signature"]["input_shape"] == [64] and body["signature"]["classes"] == list(
        range(10)
    )
    assert body["signature"]["feature_names"] == PIXELS
    (row,) = body["example"]["instances"]
    assert len(row) == 64
    sent = predict(api_client, body["example"])
    assert sent.status_code == 200 and sent.json()["version"] == 2
    assert by_version.json()["alias"] is None and by_version.json()["version"] == 1


def test_the_browsable_page_opens_with_the_example_in_its_form(client, user, named):
    client.force_login(user)

    page = client.get(URL, HTTP_ACCEPT="text/html")

    html = page.content.decode()
    assert page.status_code == 200 and '<textarea name="_content"' in html
    form = html.split('<textarea name="_content"', 1)[1].split("</textarea>", 1)[0]
    assert "&quot;instances&quot;" in form


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("?alias=staging", 409, "no 'staging' alias"),
        ("?version=7", 404, "has no version 7"),
        ("?version=x", 400, "version must be a whole number"),
    ],
)
def test_get_answers_as_a_post_would_for_what_it_cannot_use(
    api_client, named, query, status, message
):
    answer = api_client.get(f"{URL}{query}")

    assert answer.status_code == status and message in answer.json()["detail"]
