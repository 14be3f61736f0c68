"""Shared by the commands that take --wait: block until a job ends, print its status word."""

import time
from collections.abc import Callable

from django.core.management.base import CommandError, OutputWrapper


def wait_for_status(
    fetch: Callable[[], tuple[str, str]],
    *,
    terminal: set[str],
    success: str,
    stdout: OutputWrapper,
    timeout: float | None,
    interval: float = 1.0,
    on_poll: Callable[[], None] | None = None,
) -> None:
    """Poll ``fetch() -> (status, error)`` until a terminal status; print it last.

    Raises ``CommandError`` (exit status 1) unless the job ended in ``success``.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status, error = fetch()
        if on_poll is not None:
            on_poll()
        if status in terminal:
            break
        if deadline is not None and time.monotonic() > deadline:
            raise CommandError(timed_out(status, timeout))
        time.sleep(interval)
    if status != success and error:
        stdout.write(f"error: {error}")
    stdout.write(status)
    if status != success:
        raise CommandError(f"the job ended {status}")


# Statuses of a job that no worker has taken yet.
NOT_STARTED = {"PENDING", "QUEUED"}


def timed_out(status: str, timeout: float) -> str:
    """Why --timeout ended the wait: nobody took the job, or it is under way and goes on."""
    if status in NOT_STARTED:
        return (
            f"still {status} after {timeout:g}s: no worker has taken it yet; is a worker "
            "running and consuming its queue?"
        )
    return (
        f"still {status} after {timeout:g}s: a worker is on it and it goes on; --timeout "
        "stopped the waiting, not the job"
    )


def add_wait_arguments(parser) -> None:
    parser.add_argument(
        "--wait", action="store_true", help="block until the job ends; print its final status"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="with --wait, give up after this many seconds"
    )
