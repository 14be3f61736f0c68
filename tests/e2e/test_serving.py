"""The serving path in real web processes: gunicorn with two workers on this session's
database, while this process changes what they keep in memory (no signal reaches them)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from accounts.services import api_token_create, api_token_revoke
from inference.models import PredictionLog, ServingCount
from models_registry.services import model_alias_set
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CACHE_SECONDS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _start_web(env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [gunicorn, "hpml_portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
def webs(worker_env, production, tmp_path):
    """Two web processes (gunicorn with one worker each, so a test knows which one answers),
    started once ``production`` exists: they load it before they say they are ready."""
    env = {
        **worker_env,
        "SERVE_CACHE_SECONDS": str(CACHE_SECONDS),
        "THROTTLE_PREDICT_RATE": "off",
        "PREDICTION_LOG_FLUSH_SECONDS": "0.2",
    }
    started = [_start_web(env, tmp_path / f"web{n}.log") for n in range(2)]
    try:
        for _, url in started:
            wait_until(lambda url=url: _ready(url), timeout=180, interval=0.2, message="/readyz")
        yield [url for _, url in started]
    finally:
        for process, _ in started:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
        if os.environ.get("HPML_SHOW_WORKER_LOG"):
            for n in range(2):
                sys.stderr.write((tmp_path / f"web{n}.log").read_text())


def ask(url: str, key: str, rows: list, model: str = "digits") -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/api/v1/models/{model}/predict/",
        data=json.dumps({"instances": rows}).encode(),
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _until_every_answer(webs, key, rows, expected, *, timeout: float) -> float:
    """Seconds until every web process answers as ``expected`` says."""
    started, waiting = time.monotonic(), list(webs)
    while waiting:
        assert time.monotonic() - started < timeout, f"not every answer changed in {timeout}s"
        waiting = [url for url in waiting if not expected(*ask(url, key, rows))]
    return time.monotonic() - started


def test_a_promotion_and_a_revocation_reach_every_web_process_within_the_delay(
    webs, production, second_version, user, digits
):
    token, key = api_token_create(user=user)
    rows = digits[0][:1].tolist()
    assert [ask(url, key, rows)[1]["version"] for url in webs] == [1, 1]

    model_alias_set(model_version=second_version, alias="production")
    # Kept for a moment: no signal reaches those processes.
    assert [ask(url, key, rows)[1]["version"] for url in webs] == [1, 1]
    promoted = _until_every_answer(
        webs, key, rows, lambda status, body: body.get("version") == 2, timeout=60
    )

    api_token_revoke(token=token, actor=user)
    assert [ask(url, key, rows)[0] for url in webs] == [200, 200]
    revoked = _until_every_answer(webs, key, rows, lambda status, body: status == 401, timeout=30)

    # The new version loads in the background first: the delay plus a model load.
    assert promoted < CACHE_SECONDS + 10
    assert revoked < CACHE_SECONDS + 1


def test_the_web_processes_log_and_count_off_the_request_path(webs, production, user, digits):
    _, key = api_token_create(user=user)
    rows = digits[0][:2].tolist()
    answers = [ask(url, key, rows) for url in webs * 2]
    missing = ask(webs[0], key, rows, model="nothing")

    assert [status for status, _ in answers] == [200] * 4 and missing[0] == 404
    ids = [body["id"] for _, body in answers]
    wait_until(lambda: PredictionLog.objects.filter(pk__in=ids).count() == 4, timeout=10)

    def counts():
        rows = ServingCount.objects.values_list("model_name", "version", "status", "requests")
        found = {(name, version, status): 0 for name, version, status, _ in rows}
        for name, version, status, requests in rows:
            found[(name, version, status)] += requests
        return found

    expected = {("digits", 1, 200): 4, ("nothing", 0, 404): 1}
    wait_until(lambda: counts() == expected, timeout=10, message=f"counts {expected}")
