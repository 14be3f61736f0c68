"""Log lines: plain text by default, one JSON object per line with LOG_FORMAT=json, and the
request id (and, in a task, the task's id and name) on every record, in web processes and
Celery workers alike."""

import json
import logging
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from hpml_portal import request_id
from hpml_portal.logs import ContextFilter, JsonFormatter

ROOT = Path(__file__).resolve().parents[2]


def record(message: str = "loaded %s", *args, exc_info=None) -> logging.LogRecord:
    made = logging.LogRecord(
        "inference.loading", logging.WARNING, __file__, 1, message, args, exc_info
    )
    ContextFilter().filter(made)
    return made


def test_a_json_line_parses_and_names_the_request():
    token = request_id._request_id.set("req-77")
    try:
        line = JsonFormatter().format(record("loaded %s", "digits v3"))
    finally:
        request_id._request_id.reset(token)

    entry = json.loads(line)
    assert "\n" not in line
    assert entry["message"] == "loaded digits v3" and entry["request_id"] == "req-77"
    assert (entry["level"], entry["logger"]) == ("WARNING", "inference.loading")
    assert datetime.fromisoformat(entry["time"]).utcoffset().total_seconds() == 0
    assert entry["time"].endswith("Z")
    assert "task_id" not in entry and "exception" not in entry


def test_a_json_line_outside_a_request_has_a_null_request_id():
    assert json.loads(JsonFormatter().format(record()))["request_id"] is None


def test_a_json_line_carries_the_exception_and_the_task():
    task = type("Task", (), {"name": "datasets.tasks.ingest", "request": None})()
    request_id.on_task_prerun(task_id="t-5", task=task)
    try:
        try:
            raise ValueError("bad row 3")
        except ValueError:
            line = JsonFormatter().format(record("ingest failed", exc_info=sys.exc_info()))
    finally:
        request_id.on_task_postrun(task_id="t-5")

    entry = json.loads(line)
    assert (entry["task_id"], entry["task_name"]) == ("t-5", "datasets.tasks.ingest")
    assert "Traceback" in entry["exception"] and "ValueError: bad row 3" in entry["exception"]


SHOW_LOG = """
import logging, django
django.setup()
logging.getLogger("hpml.example").warning("hello %s", "there")
"""
WORKER_LOG = """
import logging, django
django.setup()
from hpml_portal import request_id
from hpml_portal.celery import app
app.log.setup(loglevel="INFO")  # what a worker does when it starts
from celery.app.task import Context
message = Context({"id": "t-1", request_id.TASK_HEADER: "req-3"})
task = type("Task", (), {"name": "experiments.tasks.train_run", "request": message})()
request_id.on_task_prerun(task_id="t-1", task=task)
logging.getLogger("experiments.runner").info("epoch %d", 2)
request_id.on_task_postrun(task_id="t-1")
"""


def python_with(env: dict, code: str, tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    clean.update(
        DJANGO_SETTINGS_MODULE="hpml_portal.settings",
        HPML_ENV_FILE=str(tmp_path / "no.env"),
        HPML_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="x",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_by_default_a_line_is_plain_text(tmp_path):
    result = python_with({}, SHOW_LOG, tmp_path)

    assert result.returncode == 0, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING hpml.example: hello there", line
    )


def test_with_log_format_json_each_line_is_one_json_object(tmp_path):
    result = python_with({"LOG_FORMAT": "json"}, SHOW_LOG, tmp_path)

    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert entry["message"] == "hello there" and entry["logger"] == "hpml.example"


def test_an_unknown_log_format_is_refused(tmp_path):
    result = python_with({"LOG_FORMAT": "xml"}, SHOW_LOG, tmp_path)

    assert result.returncode != 0 and "LOG_FORMAT must be text or json" in result.stderr


def test_a_workers_task_logs_json_with_its_request_and_task(tmp_path):
    result = python_with({"LOG_FORMAT": "json"}, WORKER_LOG, tmp_path)

    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert entry["message"] == "epoch 2" and entry["level"] == "INFO"
    assert entry["request_id"] == "req-3"
    assert (entry["task_id"], entry["task_name"]) == ("t-1", "experiments.tasks.train_run")
