"""``manage.py predict`` (inference/cli.py): refused before any model loads, answered by a
worker that takes the request, else in this process. tests/e2e/test_predict_cli.py runs it
against a real worker."""

import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection

from inference.loading import is_loaded
from inference.management.commands.predict import Command
from inference.models import PredictionLog
from inference.tasks import serve_prediction
from tests.helpers import broker_unreachable, queued_tasks, wait_until

ROOT = Path(__file__).resolve().parents[2]
TASK = "inference.tasks.serve_prediction"
SETTINGS = "hpml_portal.settings"


def predict(*args, model="digits") -> tuple[dict, str]:
    """The answer, and what the command said on stderr at --verbosity 2."""
    out, err = io.StringIO(), io.StringIO()
    call_command("predict", model, *args, "--verbosity", "2", stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


@pytest.fixture
def rows_file(tmp_path, digits):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"instances": digits[0][:3].tolist()}))
    return str(path)


def offered() -> list[list]:
    return [args for name, args in queued_tasks("default") if name == TASK]


@pytest.fixture
def fake_worker():
    """A thread that runs the offered task as a worker would, from the broker's message (its
    arguments as they travelled), on a database connection of its own."""

    def work():
        try:
            args = wait_until(offered, timeout=30, interval=0.01, message="the offer")[0]
            serve_prediction(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    yield thread
    thread.join(60)


def ok_rows() -> int:
    return PredictionLog.objects.filter(outcome=PredictionLog.Outcome.OK).count()


def test_without_a_worker_it_predicts_in_this_process(rows_file, production):
    answer, said = predict("--input", rows_file, "--worker-wait", "0.05")

    assert "no worker took the prediction within 0.05 s: predicting in this process" in said
    assert answer["model"] == "digits" and len(answer["predictions"]) == 3
    assert len(offered()) == 1 and ok_rows() == 1


def test_a_worker_too_late_leaves_the_request_to_the_command(rows_file, production):
    predict("--input", rows_file, "--worker-wait", "0.05")

    serve_prediction(*offered()[0])  # the message, picked up after the command claimed it

    assert ok_rows() == 1


@pytest.mark.django_db(transaction=True)  # the worker's connection sees the rows
def test_a_worker_answers_as_this_process_would(rows_file, production, fake_worker):
    by_worker, said = predict("--input", rows_file, "--worker-wait", "30")
    fake_worker.join(60)
    here, _ = predict("--input", rows_file, "--worker-wait", "0")

    assert said.strip() == "answered by a worker of the default queue"
    assert by_worker.pop("id") != here.pop("id")  # each request logged once
    assert by_worker == here
    assert ok_rows() == 2


@pytest.mark.django_db(transaction=True)
def test_a_refusal_on_the_worker_is_a_one_line_error(rows_file, production, fake_worker):
    default_storage.delete(production.artifact.name)
    default_storage.save(production.artifact.name, io.BytesIO(b"not the model"))

    with pytest.raises(CommandError, match="does not match") as failure:
        predict("--input", rows_file, "--worker-wait", "30")

    assert "\n" not in str(failure.value) and not PredictionLog.objects.exists()


def test_an_unreachable_broker_means_predicting_here(rows_file, production):
    with broker_unreachable():
        answer, said = predict("--input", rows_file)

    assert "no worker could be asked" in said and len(answer["predictions"]) == 3


def test_a_per_process_cache_means_no_worker_is_asked(rows_file, production, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    answer, said = predict("--input", rows_file)

    assert "the cache is this process's own" in said and len(answer["predictions"]) == 3
    assert offered() == []


def test_refused_rows_are_logged_without_loading_the_model(tmp_path, production):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"instances": [[0] * 63]}))

    with pytest.raises(CommandError, match="instance 0: expected 64 numbers, got 63 values"):
        predict("--input", str(path))

    refused = PredictionLog.objects.get()
    assert refused.outcome == PredictionLog.Outcome.REJECTED and "63 values" in refused.error
    assert refused.requested == "alias:production" and refused.inputs_sample == [[0] * 63]
    assert not is_loaded(production) and offered() == []


ERRORS = """
import json, sys
from django.core.management import execute_from_command_line

for args in json.loads(sys.argv[1]):
    try:
        execute_from_command_line(["manage.py", "predict", *args])
    except SystemExit:
        pass
print(json.dumps(sorted(name for name in ("keras", "tensorflow") if name in sys.modules)))
"""


@pytest.mark.django_db(transaction=True)  # a process of its own reads the rows
def test_refusals_start_no_tensorflow(tmp_path, production, worker_env):
    (tmp_path / "broken.json").write_text('{"instances": [[1, 2]')
    (tmp_path / "short.json").write_text(json.dumps([[0] * 63]))
    (tmp_path / "good.json").write_text(json.dumps([[0] * 64]))
    cases = {
        "there is no model named 'nope'": ["nope", "--input", "good.json"],
        "the input is not valid JSON": ["digits", "--input", "broken.json"],
        "instance 0: expected 64 numbers, got 63": ["digits", "--input", "short.json"],
        "model 'digits' has no 'x' alias": ["digits", "--input", "good.json", "--alias", "x"],
    }

    done = subprocess.run(
        [sys.executable, "-c", ERRORS, json.dumps(list(cases.values()))],
        cwd=tmp_path,
        env={**worker_env, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": SETTINGS},
        capture_output=True,
        text=True,
        timeout=120,
    )

    lines = done.stderr.strip().splitlines()
    assert len(lines) == len(cases), done.stderr
    for line, message in zip(lines, cases, strict=True):
        assert line.startswith("CommandError: ") and message in line
    assert json.loads(done.stdout) == []  # neither keras nor tensorflow was imported


def test_help_says_who_answers():
    text = " ".join(Command().create_parser("manage.py", "predict").format_help().split())

    assert "A worker of the default queue answers" in text and "--worker-wait" in text
