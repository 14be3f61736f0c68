"""``manage.py predict`` as a shell runs it, with a real worker on the default queue."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inference.models import PredictionLog
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def run_predict(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "predict", "digits", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_worker_answers_what_the_command_answers_itself(
    alive, production, digits, worker_env, tmp_path
):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"instances": digits[0][:3].tolist()}))
    # The first offer waits for the worker to start TensorFlow and load the model.
    quiet = run_predict(worker_env, "--input", str(path), "--worker-wait", "120")
    by_worker = run_predict(worker_env, "--input", str(path), "--worker-wait", "60", "-v", "2")
    here = run_predict(worker_env, "--input", str(path), "--worker-wait", "0")

    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert by_worker.stderr == "answered by a worker of the default queue\n"
    answers = [json.loads(done.stdout) for done in (quiet, by_worker, here)]
    assert len({answer.pop("id") for answer in answers}) == 3  # each request logged once
    assert answers[0] == answers[1] == answers[2]
    assert len(answers[0]["predictions"]) == 3
    logged = PredictionLog.objects.filter(outcome=PredictionLog.Outcome.OK)
    wait_until(lambda: logged.count() == 3, timeout=30, message="the three log rows")
