"""Each request's id: taken from X-Request-ID when sane, else made; answered back; held while
the request runs; carried to the tasks it enqueues and held by the worker that runs them."""

import base64
import json
import logging
import re

import pytest
import redis
from celery import signals
from celery.app.task import Context
from celery.worker.request import Request
from django.conf import settings

from experiments import tasks
from experiments.models import TrainingRun
from hpml_portal import request_id
from hpml_portal.celery import app
from hpml_portal.logs import ContextFilter

NEW_ID = re.compile(r"[0-9a-f]{32}")


def test_a_request_without_an_id_gets_a_new_one(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert NEW_ID.fullmatch(first) and NEW_ID.fullmatch(second) and first != second


def test_a_sane_incoming_id_is_answered_back(client):
    sent = "lb-7f3a.2026_11_26-" + "x" * 45  # 64 characters, the longest kept

    answer = client.get("/healthz", HTTP_X_REQUEST_ID=sent)

    assert answer["X-Request-ID"] == sent


@pytest.mark.parametrize(
    "sent", ["x" * 65, "two words", "<script>", "id\r\nSet-Cookie: a=b", "ünï", "a/b", ""]
)
def test_an_id_that_is_not_a_sane_token_is_replaced(client, sent):
    answer = client.get("/healthz", HTTP_X_REQUEST_ID=sent)

    assert NEW_ID.fullmatch(answer["X-Request-ID"])


def test_refusals_by_the_middleware_carry_an_id_too(client):
    answer = client.get("/healthz?name=%00", HTTP_X_REQUEST_ID="nul-1")

    assert answer.status_code == 400 and answer["X-Request-ID"] == "nul-1"


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.addFilter(ContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def django_request_log():
    handler = Records()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


@pytest.mark.django_db
def test_the_id_is_held_until_the_answer_is_logged_then_forgotten(client, django_request_log):
    # Django logs a 4xx answer after every middleware has returned it.
    answer = client.get("/no-such-page", HTTP_X_REQUEST_ID="req-404")

    assert answer.status_code == 404
    assert [r.request_id for r in django_request_log] == ["req-404"]
    assert request_id.current() is None


def test_a_task_message_names_the_request_that_enqueued_it():
    headers = {"task": "experiments.tasks.train_run", "id": "t-1"}
    token = request_id._request_id.set("req-1")
    try:
        signals.before_task_publish.send(sender="experiments.tasks.train_run", headers=headers)
    finally:
        request_id._request_id.reset(token)
    outside = {"task": "experiments.tasks.train_run", "id": "t-2"}
    signals.before_task_publish.send(sender="experiments.tasks.train_run", headers=outside)

    assert headers[request_id.TASK_HEADER] == "req-1"
    assert request_id.TASK_HEADER not in outside  # enqueued by a command: no request


def _raw_messages(queue: str) -> list[dict]:
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return [json.loads(raw) for raw in client.lrange(f"{prefix}{queue}", 0, -1)]


@pytest.mark.django_db(transaction=True)
def test_a_run_queued_by_a_request_reaches_the_broker_with_its_id(api_client, ready_version):
    experiment = api_client.post("/api/v1/experiments/", {"name": "e"}, format="json").json()
    answer = api_client.post(
        f"/api/v1/experiments/{experiment['id']}/runs/",
        {"dataset_version": ready_version.pk, "model_name": "m", "hyperparameters": {"epochs": 1}},
        format="json",
        HTTP_X_REQUEST_ID="submit-42",
    )

    assert answer.status_code == 202, answer.content
    (message,) = _raw_messages("training")
    body = json.loads(base64.b64decode(message["body"]))
    assert body[0] == [answer.json()["id"]]
    assert message["headers"][request_id.TASK_HEADER] == "submit-42"
    assert TrainingRun.objects.get().status == "QUEUED"
    # As a worker receives it: its request, then the context the task runs with.
    delivered = _deliver("training")
    received = Request(delivered, app=app, task=tasks.train_run)
    task = FakeTask(Context(received.request_dict))
    request_id.on_task_prerun(task_id=task.request.id, task=task)
    held = request_id.current()
    request_id.on_task_postrun(task_id=task.request.id, task=task)
    assert held == "submit-42"


def _deliver(queue: str):
    with app.connection_for_read() as connection:
        return connection.default_channel.basic_get(queue=queue, no_ack=True)


class FakeTask:
    name = "experiments.tasks.train_run"

    def __init__(self, request):
        self.request = request


@pytest.mark.parametrize(
    "request_dict",
    [
        {"id": "t-9", request_id.TASK_HEADER: "from-web-9"},  # a message header, as an attribute
        {"id": "t-9", "headers": {request_id.TASK_HEADER: "from-web-9"}},  # gathered in headers
    ],
)
def test_the_worker_holds_the_messages_id_while_the_task_runs(request_dict):
    task = FakeTask(Context(request_dict))

    signals.task_prerun.send(sender=task, task_id="t-9", task=task, args=(), kwargs={})
    during = request_id.current(), request_id.current_task()
    signals.task_postrun.send(sender=task, task_id="t-9", task=task, args=(), kwargs={})

    assert during == ("from-web-9", ("t-9", "experiments.tasks.train_run"))
    assert (request_id.current(), request_id.current_task()) == (None, None)


def test_a_worker_ignores_an_id_that_is_not_a_sane_token():
    task = FakeTask(Context({"id": "t-3", request_id.TASK_HEADER: "bad id\nwith lines"}))

    request_id.on_task_prerun(task_id="t-3", task=task)
    held = request_id.current()
    request_id.on_task_postrun(task_id="t-3", task=task)

    assert held is None
