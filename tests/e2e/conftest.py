import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def worker(worker_env, tmp_path_factory):
    """A real Celery worker process on both queues, using this session's test database."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "hpml_portal",
                "worker",
                "-Q",
                "default,training",
                "--concurrency",
                "1",
                "--prefetch-multiplier",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so teardown can stop its pool children too
        )
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if os.environ.get("HPML_SHOW_WORKER_LOG"):
        sys.stderr.write(log.read_text())


@pytest.fixture
def alive(worker):
    """The worker, checked to be running before and after the test."""
    assert worker.poll() is None, "the worker exited"
    yield worker
    assert worker.poll() is None, "the worker exited during the test"
