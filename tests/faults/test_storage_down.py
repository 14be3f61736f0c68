"""The S3 endpoint going away under a web process, a command and a worker: an S3 endpoint of
this module's own (moto) behind a proxy that is cut and restored, so the objects survive the
outage as they would on a real S3 service."""

import io

import numpy as np
import pytest
from django.conf import settings
from django.db import transaction

from datasets.models import DatasetVersion
from datasets.services import IngestSource, dataset_version_ingest, dataset_version_retry
from experiments.models import TrainingRun
from experiments.services import training_run_create, training_run_retry
from models_registry.services import model_alias_set
from tests.faults.conftest import (
    TcpProxy,
    Web,
    celery_worker,
    job_ended,
    json_error,
    manage,
    mlflow_run_status,
    one_line_error,
    ready_version,
    running,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BUCKET = "hpml-faults"
DOWN = "object storage cannot be reached"


class S3Endpoint:
    """moto behind a proxy: ``cut()`` and ``restore()`` it; ``objects()`` lists the stored
    keys, asking moto directly (the proxy may be cut)."""

    def __init__(self, moto_port: int):
        import boto3

        self.proxy = TcpProxy(moto_port)
        self.url = f"http://127.0.0.1:{self.proxy.port}"
        self.env = {
            "AWS_S3_ENDPOINT_URL": self.url,
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            # One try per request: a refused connection fails at once, not after backing off.
            "AWS_MAX_ATTEMPTS": "1",
        }
        self.client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{moto_port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def cut(self) -> None:
        self.proxy.cut()

    def restore(self) -> None:
        self.proxy.restore()

    def objects(self) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}


@pytest.fixture(scope="module")
def s3():
    from scripts.run_tests import start_moto

    moto, port = start_moto()
    endpoint = S3Endpoint(port)
    endpoint.client.create_bucket(Bucket=BUCKET)
    yield endpoint
    endpoint.cut()
    moto.terminate()
    moto.wait(timeout=10)


@pytest.fixture(scope="module", autouse=True)
def storage(s3):
    """This process stores in the module's bucket too (the processes it starts do)."""
    from botocore.config import Config
    from django.core.files.storage import default_storage, storages
    from storages.backends.s3 import S3Storage

    own = S3Storage(
        **{
            **settings.STORAGES["default"]["OPTIONS"],
            "endpoint_url": s3.url,
            "bucket_name": BUCKET,
            "client_config": Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                retries={"max_attempts": 1},
            ),
        }
    )
    shared = storages["default"]
    storages._storages["default"] = default_storage._wrapped = own
    yield own
    storages._storages["default"] = default_storage._wrapped = shared


@pytest.fixture(scope="module")
def env(worker_env, s3):
    return {**worker_env, **s3.env}


@pytest.fixture(scope="module")
def web(env, fault_dir):
    with running(Web(env, fault_dir / "web.log")) as web:
        yield web


@pytest.fixture(scope="module")
def worker(env, fault_dir):
    with running(celery_worker(env, fault_dir / "worker.log")) as worker:
        yield worker


def test_an_upload_with_the_storage_down_answers_503_json_and_keeps_nothing(
    web, http, s3, small_npz
):
    dataset = http.post(web.url("/api/v1/datasets/"), json={"name": "uploads"})
    assert dataset.status_code == 201, dataset.text
    before = s3.objects()

    s3.cut()
    try:
        answer = http.post(
            web.url(f"/api/v1/datasets/{dataset.json()['id']}/versions/"),
            files={"file": ("blobs.npz", small_npz)},
            timeout=60,
        )
    finally:
        s3.restore()

    assert DOWN in json_error(answer, 503)
    assert not DatasetVersion.objects.filter(dataset__name="uploads").exists()
    assert s3.objects() == before


def test_ingest_dataset_with_the_storage_down_says_why_in_one_line(env, s3, tmp_path, small_npz):
    path = tmp_path / "blobs.npz"
    path.write_bytes(small_npz)

    s3.cut()
    try:
        result = manage("ingest_dataset", "offline", "--file", str(path), env=env)
    finally:
        s3.restore()

    assert DOWN in one_line_error(result)
    assert not DatasetVersion.objects.filter(dataset__name="offline").exists()


def test_an_ingest_that_loses_the_storage_ends_failed_with_its_upload_kept_for_a_retry(
    worker, s3, small_npz
):
    before = s3.objects()
    with transaction.atomic():  # the worker gets the message at commit: after the cut
        version, _ = dataset_version_ingest(
            dataset_name="cut", source=IngestSource.upload(io.BytesIO(small_npz), "cut.npz")
        )
        s3.cut()
    try:
        failed = job_ended(DatasetVersion, version.pk, timeout=90)
    finally:
        s3.restore()

    assert failed.status == "FAILED"
    assert "gave up after 4 tries" in failed.error and DOWN in failed.error, failed.error
    assert "\n" not in failed.error
    staged = failed.source_spec["staging"]
    assert s3.objects() - before == {staged}  # the upload, for the retry; nothing half stored

    dataset_version_retry(version=failed)
    ready = job_ended(DatasetVersion, version.pk, timeout=60)

    assert ready.status == "READY", ready.error
    # The worker removes the staged upload just after it marks the version READY.
    wait_for(lambda: staged not in s3.objects(), timeout=30, message="the staged upload removed")
    assert ready.file.name in s3.objects() and staged not in s3.objects()


def test_a_run_that_cannot_store_its_model_fails_with_a_retry_and_leaves_no_model(
    worker, s3, small_npz
):
    version = ready_version("model-cut", small_npz)
    run = training_run_create(
        experiment_name="faults",
        dataset_version=version,
        model_name="cut",
        hyperparameters={"epochs": 60, "batch_size": 8},
    )
    wait_for(  # training: the data is loaded, the model is not stored yet
        lambda: TrainingRun.objects.filter(pk=run.pk, current_epoch__gte=1).exists(),
        timeout=120,
        interval=0.05,
        message="the run to train",
    )
    s3.cut()
    try:
        failed = job_ended(TrainingRun, run.pk, timeout=120)
    finally:
        s3.restore()

    assert failed.status == "FAILED" and DOWN in failed.error, failed.error
    assert "\n" not in failed.error
    assert not [key for key in s3.objects() if key.startswith("models/")]
    assert mlflow_run_status(settings.MLFLOW_TRACKING_URI, failed.mlflow_run_id) == "FAILED"

    retried = job_ended(TrainingRun, training_run_retry(run=failed).pk, timeout=120)

    assert retried.status == "SUCCEEDED", retried.error
    assert retried.model_version.artifact.name in s3.objects()


def test_the_first_prediction_with_the_storage_down_answers_503_json(
    web, http, worker, s3, small_npz
):
    version = ready_version("served", small_npz)
    run = training_run_create(
        experiment_name="faults",
        dataset_version=version,
        model_name="served",
        hyperparameters={"epochs": 2},
    )
    trained = job_ended(TrainingRun, run.pk, timeout=120)
    assert trained.status == "SUCCEEDED", trained.error
    model_alias_set(model_version=trained.model_version, alias="production")
    rows = {"instances": np.random.default_rng(1).normal(size=(2, 8)).tolist()}

    s3.cut()
    try:
        answer = http.post(web.url("/api/v1/models/served/predict/"), json=rows, timeout=90)
    finally:
        s3.restore()

    assert DOWN in json_error(answer, 503)
    answer = http.post(web.url("/api/v1/models/served/predict/"), json=rows, timeout=90)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 2
