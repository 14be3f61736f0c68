"""What the prediction API's schema promises, and the API keeping to it (found by the fuzz)."""

import pytest

from inference.models import PredictionLog
from tests.openapi import operation, parameter, request_schema

URL = "/api/v1/models/digits/predict/"
PREDICT = "/api/v1/models/{name}/predict/"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_version_number_of_thousands_of_digits_is_404_not_an_error(
    method, api_client, production
):
    url = f"{URL}?version={'9' * 5000}"  # int() refuses over 4,300 digits
    if method == "get":
        answer = api_client.get(url)
    else:
        answer = api_client.post(url, {"instances": [[0] * 64]}, format="json")

    assert answer.status_code == 404
    assert answer.json()["detail"].startswith("model 'digits' has no version 999")
    assert not PredictionLog.objects.filter(outcome="ok").exists()


def test_the_version_parameter_is_a_whole_number_from_1_by_the_schema():
    version = parameter(PREDICT, "POST", "version")["schema"]

    assert (version["type"], version["minimum"], version["maximum"]) == ("integer", 1, 2**31 - 1)


def test_a_prediction_body_is_exactly_one_of_the_four_formats_by_the_schema():
    body = request_schema(PREDICT, "POST")

    assert sorted(form["required"][0] for form in body["oneOf"]) == [
        "dataframe_records",
        "dataframe_split",
        "inputs",
        "instances",
    ]


def test_every_refusal_of_a_prediction_is_documented():
    responses = operation(PREDICT, "POST")["responses"]

    assert {"400", "401", "403", "404", "409", "413", "429", "503"} <= set(responses)


def test_feedback_labels_are_a_list_by_the_schema():
    labels = request_schema("/api/v1/predictions/{id}/feedback/", "POST")["properties"]["labels"]

    assert labels["type"] == "array" and labels["minItems"] == 1
