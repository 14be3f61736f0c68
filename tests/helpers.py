"""Test helpers that look at the real broker and storage."""

import base64
import json
import time
from collections.abc import Callable

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
