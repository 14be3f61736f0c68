"""Test helpers that look at the real broker and storage."""

import base64
import json
import time
from collections.abc import Callable
from contextlib import contextmanager

import redis
from django.conf import settings


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def _prefix() -> str:
    return settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")


def queued_tasks(queue: str) -> list[tuple[str, list]]:
    """(task name, args) of the messages waiting in a broker queue, oldest first."""
    messages = []
    for raw in reversed(_redis().lrange(f"{_prefix()}{queue}", 0, -1)):
        message = json.loads(raw)
        body = json.loads(base64.b64decode(message["body"]))
        messages.append((message["headers"]["task"], body[0]))
    return messages


def purge_queues() -> None:
    client = _redis()
    for queue in ("default", "training"):
        client.delete(f"{_prefix()}{queue}")


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float,
    interval: float = 0.5,
    message: str = "condition",
) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@contextmanager
def celery_broker(url: str):
    """This process's Celery app publishes to ``url`` for the block."""
    from hpml_portal.celery import app

    def reset_pools():
        app.amqp._producer_pool = None
        app._pool = None

    # Publishing uses the write URL first (CELERY_BROKER_URL in the environment would win over
    # broker_url itself).
    app.conf.broker_write_url = url
    reset_pools()
    try:
        yield
    finally:
        app.conf.broker_write_url = None
        reset_pools()


def broker_unreachable():
    """Point the Celery app at a port where no broker listens, as when Redis is down."""
    return celery_broker("redis://127.0.0.1:1/0")


def register_trained_digits(path, result, **options):
    """The next version of model "digits", from a trained model's file (stored content-
    addressed as training stores it) and its ``TrainResult``; ``options`` go to the service."""
    from hpml_portal.storage import save_content_addressed, sha256_file
    from models_registry.services import Artifact, model_version_register

    stored = save_content_addressed(
        path, sha256=sha256_file(path), prefix="models/digits", suffix=".keras"
    )
    return model_version_register(
        model_name="digits",
        artifact=Artifact(stored.name, stored.sha256, stored.size),
        signature={
            "input_shape": result.input_shape,
            "input_dtype": "float32",
            "classes": result.classes,
        },
        metrics=result.test_metrics,
        **options,
    )


def stored_keys(folder: str = "") -> list[str]:
    """Every object under ``folder`` of the default storage, at any depth."""
    from django.core.files.storage import default_storage

    folders, files = default_storage.listdir(folder)
    keys = [f"{folder}/{name}".lstrip("/") for name in files]
    for sub in folders:
        keys += stored_keys(f"{folder}/{sub}".lstrip("/"))
    return keys
