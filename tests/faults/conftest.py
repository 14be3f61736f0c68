"""Processes and services the fault tests own, so that they can stop, kill and cut them
without touching what the rest of the suite shares: web and worker processes, a Redis of
their own, an S3 endpoint of their own, and TCP proxies that stand for a service going away
(a cut proxy refuses connections and drops the open ones, as a stopped server does) and
coming back with its state (moto and PostgreSQL keep theirs behind it)."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import redis
import requests

from tests.conftest import ROOT
from tests.helpers import wait_until

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 30, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive:
            raise AssertionError(f"{process.name} exited early:\n{process.log_tail()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {timeout}s")


class Process:
    """A child process in a session of its own (its children go with it), logging to a file;
    started again with the same command by ``start()``."""

    def __init__(self, name: str, args: list[str], env: dict, log: Path):
        self.name, self.args, self.env, self.log = name, args, env, log
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Process":
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the whole process group (a gunicorn master and its workers, a
        Celery worker and its pool)."""
        os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 20) -> None:
        if not self.alive:
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait()

    def kill(self) -> None:
        """SIGKILL to the whole group: nothing in it gets to clean up."""
        self.signal(signal.SIGKILL)
        self.popen.wait()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running(process: Process) -> Iterator[Process]:
    """Start ``process`` and stop it (group and all) however the block ends."""
    process.start()
    try:
        yield process
    finally:
        process.stop()
        if os.environ.get("HPML_SHOW_WORKER_LOG"):
            sys.stderr.write(process.log.read_text(errors="replace"))


def celery_worker(env: dict, log: Path, queues: str = "default,training") -> Process:
    """A Celery worker as the README runs one (one task at a time)."""
    return Process(
        f"worker ({queues})",
        [
            str(BIN / "celery"),
            *("-A", "hpml_portal", "worker", "-Q", queues),
            *("--concurrency", "1", "--prefetch-multiplier", "1"),
            *("--without-gossip", "--without-mingle", "--loglevel", "INFO"),
        ],
        env,
        log,
    )


class Web(Process):
    """``gunicorn hpml_portal.wsgi`` on a port of its own, kept across restarts."""

    def __init__(self, env: dict, log: Path, workers: int = 1):
        self.port = free_port()
        args = [
            str(BIN / "gunicorn"),
            "hpml_portal.wsgi",
            *("--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)),
            *("--graceful-timeout", "10", "--timeout", "60"),
        ]
        super().__init__("web", args, {"SERVE_PRELOAD_ALIASES": "", **env}, log)

    def start(self) -> "Web":
        super().start()
        wait_for_port(self.port, process=self)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class TcpProxy:
    """Forwards a loopback port to ``upstream``. ``cut()`` closes the listening socket and
    every connection through it: clients see their connections dropped and new ones refused,
    as when the server stops. ``restore()`` listens on the same port again."""

    def __init__(self, upstream: int, host: str = "127.0.0.1"):
        self.upstream = (host, upstream)
        self.port = free_port()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open |= {client, server}
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            _close(sock)
        with self._lock:
            self._open -= {source, target}


def _close(sock: socket.socket) -> None:
    with suppress(OSError):  # already shut down by the other side or by cut()
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class RedisServer:
    """A redis-server of the test's own, keeping nothing on disk: stopping it loses what it
    held, as a broker without persistence does."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = Process(
            "redis-server",
            [
                shutil.which("redis-server"),
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
            ],
            dict(os.environ),
            self.folder / "redis.log",
        ).start()
        wait_for_port(self.port, process=self.process)

    def stop(self) -> None:
        self.process.stop()

    def queued(self, queue: str) -> list[tuple[str, list]]:
        """(task name, args) of the messages waiting in ``queue``, oldest first."""
        from django.conf import settings

        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        client = redis.Redis.from_url(self.url)
        return [_task_of(raw) for raw in reversed(client.lrange(f"{prefix}{queue}", 0, -1))]


def _task_of(raw: bytes) -> tuple[str, list]:
    import base64

    message = json.loads(raw)
    return message["headers"]["task"], json.loads(base64.b64decode(message["body"]))[0]


def manage(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """``manage.py`` in a process of its own, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (INFO|WARNING) [\w.]+: ")


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The reason a failed command gave: one line, last, with no traceback. Log records of
    the failure may come before it, one line each, as in any process's log."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    *logged, reason = result.stderr.strip().splitlines()
    assert reason.startswith("CommandError: "), result.stderr
    assert all(LOG_LINE.match(line) for line in logged), result.stderr
    return reason


def json_error(answer: requests.Response, status: int) -> str:
    """The ``detail`` of an API error answer, checked to be JSON with ``status``."""
    assert answer.status_code == status, (answer.status_code, answer.text[:500])
    assert answer.headers["Content-Type"].startswith("application/json"), answer.text[:500]
    return answer.json()["detail"]


def wait_for(predicate, *, timeout: float, interval: float = 0.2, message: str = "it"):
    """The suite's ``wait_until``, polling faster: outages here last seconds."""
    return wait_until(predicate, timeout=timeout, interval=interval, message=message)


def job_ended(model, pk: int, timeout: float):
    """The job ``pk`` once it has ended (read from the database, as the API does)."""

    def ended():
        job = model.objects.get(pk=pk)
        return job if job.is_terminal else None

    return wait_for(ended, timeout=timeout, message=f"{model.__name__} {pk} to end")


@pytest.fixture(scope="module")
def fault_dir() -> Iterator[Path]:
    """Logs, stores and what killed processes leave behind, removed with the module (set
    HPML_SHOW_WORKER_LOG to see the processes' logs)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hpml-faults-") as folder:
        yield Path(folder)


@pytest.fixture
def token(user) -> str:
    """An API token of alice (approver in the default team), for requests to a web process."""
    from accounts.services import api_token_create

    return api_token_create(user=user)[1]


@pytest.fixture
def http(token) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    yield session
    session.close()


def ready_version(name: str, data: bytes, *, timeout: float = 60):
    """A READY version of dataset ``name`` holding the .npz ``data``: ingested here, or by a
    worker that took its message first (the claim lets one of them through)."""
    import io

    from datasets.ingest import dataset_version_execute
    from datasets.models import DatasetVersion
    from datasets.services import IngestSource, dataset_version_ingest

    version, _ = dataset_version_ingest(
        dataset_name=name, source=IngestSource.upload(io.BytesIO(data), f"{name}.npz")
    )
    dataset_version_execute(version_id=version.pk)
    version = job_ended(DatasetVersion, version.pk, timeout)
    assert version.status == "READY", version.error
    return version


def mlflow_run_status(tracking_uri: str, run_id: str) -> str:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri).get_run(run_id).info.status
