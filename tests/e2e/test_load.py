"""A short load and soak of a real portal (gunicorn, two sync workers, on this session's
database): predictions from 8 clients while runs and dataset versions are listed and a
training run is submitted. Every answer must be right and no worker's memory may grow past
the bound; how fast belongs to ``benchmarks/load.py``, not here."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from accounts.services import api_token_create
from benchmarks import load_client as load
from benchmarks.predict_servers import free_port
from experiments.models import TrainingRun
from experiments.services import experiment_get_or_create
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WARM = 250  # predictions before the first memory reading: every code path has run once
AT_LEAST = 1_000  # predictions sent before the second (four times the first)


def _ready(url: str) -> bool:
    from benchmarks.predict_servers import http_call

    try:
        return http_call(f"{url}/readyz", timeout=5)[0] == 200
    except OSError:
        return False


@pytest.fixture
def portal(worker_env, production, tmp_path):
    """gunicorn with two sync workers, as the README runs it, once ``production`` exists:
    its URL and the master's process."""
    port = free_port()
    env = {**worker_env, "THROTTLE_PREDICT_RATE": "off"}
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "hpml_portal.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--timeout",
        "120",
        "--no-control-socket",
    ]
    log = tmp_path / "web.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), timeout=180, interval=0.2, message="/readyz")
        yield url, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        if os.environ.get("HPML_SHOW_WORKER_LOG"):
            sys.stderr.write(log.read_text())


def _plan(digits, version_id: int, experiment_id: int, watch) -> load.Plan:
    rows = json.dumps({"instances": digits[0][:1].tolist()}).encode()
    submit = json.dumps(
        {"dataset_version": version_id, "architecture": "mlp", "model_name": "blobs"}
    ).encode()

    def version_one(body: bytes) -> str:
        answer = json.loads(body)
        return "" if answer["version"] == 1 and len(answer["predictions"]) == 1 else str(answer)

    return load.Plan(
        predict=load.Call("POST", "/api/v1/models/digits/predict/", rows),
        seconds=10,
        clients=8,
        min_predictions=AT_LEAST,
        max_seconds=25,
        listers=1,
        listings=(load.Call("GET", "/api/v1/runs/"), load.Call("GET", "/api/v1/dataset-versions/")),
        submissions=(
            load.Call("POST", f"/api/v1/experiments/{experiment_id}/runs/", submit, expect=202),
        ),
        milestones={WARM: lambda count: watch.sample("warm")},
        check_prediction=version_one,
    )


def test_under_load_every_answer_is_right_and_the_workers_keep_their_memory(
    portal, ready_version, user, digits
):
    url, master = portal
    _, key = api_token_create(user=user)
    experiment = experiment_get_or_create(name="load", user=user)
    workers = load.children(master.pid)
    assert len(workers) == 2, workers
    watch = load.MemoryWatch(workers)

    plan = _plan(digits, ready_version.pk, experiment.pk, watch)
    # A thread of its own for the client's event loop: this one may hold another already
    # (the browser tests' Playwright keeps one in the main thread for the session).
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(asyncio.run, load.run(load.Portal(url, key), plan)).result()
    watch.sample("end")

    assert result.errors == 0, result.summary()
    assert result.predictions >= AT_LEAST, result.summary()
    assert result.listing.statuses["200"] >= 2, result.summary()
    (submitted,) = result.submitted
    assert TrainingRun.objects.get(pk=json.loads(submitted)["id"]).status == "QUEUED"
    assert load.children(master.pid) == workers, "a worker was replaced"
    assert watch.over("warm", "end", load.RSS_BOUND) == [], watch.samples
