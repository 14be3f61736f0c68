"""Datasets through real processes: a URL ingested and a recipe applied by a real Celery
worker, a model trained on the processed version answering raw rows over the API."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from tests.conftest import npz_bytes
from tests.datasets.sources import FileServer
from tests.e2e.test_loop import poll

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def worker_env(worker_env):
    """The worker fetches from a server on loopback."""
    return {**worker_env, "INGEST_URL_ALLOW_PRIVATE": "true"}


@pytest.fixture
def digits_server():
    """Serves the digits data as /digits.npz on loopback."""
    digits = load_digits()
    with FileServer() as server:
        server.files["/digits.npz"] = npz_bytes(x=digits.data.astype(np.float32), y=digits.target)
        yield server.url("/digits.npz")


def test_a_url_is_ingested_processed_trained_on_and_served_raw_rows(
    alive, api_client, digits_server, settings
):
    settings.INGEST_URL_ALLOW_PRIVATE = True  # for the request's check, as for the worker
    dataset = api_client.post("/api/v1/datasets/", {"name": "digits"}, format="json").json()
    answer = api_client.post(
        f"/api/v1/datasets/{dataset['id']}/versions/", {"url": digits_server}, format="json"
    )
    assert answer.status_code == 202, answer.content
    raw = poll(
        api_client, f"/api/v1/dataset-versions/{answer.json()['id']}/", {"READY", "FAILED"}, 120
    )
    assert raw["status"] == "READY", raw["error"]
    assert raw["source_kind"] == "url" and raw["thumbnails"]

    recipe = {"normalize": "standard", "split": [0.7, 0.15, 0.15], "seed": 2, "reshape": [8, 8, 1]}
    answer = api_client.post(
        f"/api/v1/dataset-versions/{raw['id']}/process/", recipe, format="json"
    )
    assert answer.status_code == 202, answer.content
    processed = poll(
        api_client, f"/api/v1/dataset-versions/{answer.json()['id']}/", {"READY", "FAILED"}, 120
    )
    assert processed["status"] == "READY", processed["error"]
    assert processed["parent"] == raw["id"] and processed["schema"]["feature_shape"] == [8, 8, 1]

    experiment = api_client.post("/api/v1/experiments/", {"name": "shapes"}, format="json").json()
    answer = api_client.post(
        f"/api/v1/experiments/{experiment['id']}/runs/",
        {
            "dataset_version": processed["id"],
            "architecture": "cnn",
            "model_name": "digits-cnn",
            "hyperparameters": {"epochs": 12, "learning_rate": 0.01, "filters": 8},
        },
        format="json",
    )
    assert answer.status_code == 202, answer.content
    run = poll(api_client, f"/api/v1/runs/{answer.json()['id']}/", {"SUCCEEDED", "FAILED"}, 300)
    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["metrics"]["split_sizes"] == processed["schema"]["split_sizes"]

    digits = load_digits()
    rows = np.arange(0, 1797, 60)
    answer = api_client.post(
        "/api/v1/models/digits-cnn/predict/?version=1",
        {"instances": digits.data[rows].tolist()},  # raw 64-value rows, not 8x8x1
        format="json",
    )
    assert answer.status_code == 200, answer.content
    accuracy = np.mean(np.array(answer.json()["predictions"]) == digits.target[rows])
    assert accuracy > 0.6  # one in ten by chance

    lineage = api_client.get(f"/api/v1/dataset-versions/{raw['id']}/lineage/").json()
    assert [d["id"] for d in lineage["descendants"]] == [processed["id"]]
