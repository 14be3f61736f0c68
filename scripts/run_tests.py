#!/usr/bin/env python
"""Run the test suite against real services, and leave them as they were found.

- PostgreSQL: ``DATABASE_URL`` (default: the local server, a database name unique to this run;
  pytest-django creates the test database and drops it).
- S3: ``AWS_S3_ENDPOINT_URL`` if set, else a ``moto_server`` started here on loopback; in both
  cases a bucket made for this run, emptied and removed afterwards.
- Broker and cache: ``CELERY_BROKER_URL`` (default the local Redis) and ``CACHE_URL`` (default
  the broker's Redis), each with a key prefix unique to this run; the keys under them are
  deleted afterwards.
- MLflow: a SQLite store in a temporary folder, removed afterwards.

Arguments are passed to pytest. The exit status is pytest's (5 when no test was collected).
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"moto_server exited early with status {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"moto_server did not listen on port {port} within {timeout}s")


def start_moto(timeout: float = 30) -> tuple[subprocess.Popen, int]:
    """A moto_server of this run's own, on a port the system picks (port 0): a port chosen
    here and then handed over could be taken by another run starting at the same moment. The
    server says which port it got on its error stream."""
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    for line in moto.stderr:
        found = re.search(r"Running on http://127\.0\.0\.1:(\d+)", line)
        if found:
            port = int(found.group(1))
            # Keep reading what it writes, or a full pipe would block the server.
            threading.Thread(target=moto.stderr.read, daemon=True).start()
            wait_for_port(port, moto, timeout=max(deadline - time.monotonic(), 1))
            return moto, port
        if time.monotonic() > deadline:
            break
    moto.kill()
    raise SystemExit("moto_server did not say which port it listens on")


def s3_client(env: dict):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=env["AWS_S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_S3_REGION_NAME", "us-east-1"),
    )


def remove_bucket(env: dict) -> None:
    client, bucket = s3_client(env), env["AWS_STORAGE_BUCKET_NAME"]
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    client.delete_bucket(Bucket=bucket)


def remove_broker_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def check_reachable(env: dict) -> None:
    import psycopg2
    import redis

    try:
        url = env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
        psycopg2.connect(url, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        raise SystemExit(f"PostgreSQL is not reachable at {env['DATABASE_URL']}: {exc}") from exc
    try:
        redis.Redis.from_url(env["CELERY_BROKER_URL"], socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis is not reachable at {env['CELERY_BROKER_URL']}: {exc}") from exc


@contextmanager
def real_services(run: str) -> Iterator[dict]:
    """An environment for this project's processes on real services, removed afterwards:
    a PostgreSQL URL (the database itself is made by whoever uses it), an S3 bucket (on a
    moto_server started here unless AWS_S3_ENDPOINT_URL is set), and broker and cache key
    prefixes in Redis."""
    tmp = Path(tempfile.mkdtemp(prefix=f"hpml-test-{run}-"))
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/hpml_{run}")
    env.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    env.update(
        CELERY_BROKER_KEY_PREFIX=f"hpml-test-{run}:",
        # Throttle counters and sign-on bookkeeping in Redis, as in a deployment.
        CACHE_URL=env.get("CACHE_URL", env["CELERY_BROKER_URL"]),
        CACHE_KEY_PREFIX=f"hpml-test-{run}-cache",
        HPML_VAR_DIR=str(tmp / "var"),
        STATIC_ROOT=str(tmp / "static"),
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}",
        MLFLOW_ARTIFACT_ROOT=(tmp / "mlartifacts").as_uri(),
        SECRET_KEY=f"test-{run}",
        DEBUG="0",
        AWS_STORAGE_BUCKET_NAME=f"hpml-test-{run}",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
    )
    (tmp / "static").mkdir()  # served by WhiteNoise, which wants the folder to exist
    check_reachable(env)
    moto = None
    try:
        if not env.get("AWS_S3_ENDPOINT_URL"):
            moto, port = start_moto()
            env.update(
                AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}",
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
            )
        s3_client(env).create_bucket(Bucket=env["AWS_STORAGE_BUCKET_NAME"])
        try:
            yield env
        finally:
            remove_bucket(env)
    finally:
        remove_broker_keys(env["CELERY_BROKER_URL"], env["CELERY_BROKER_KEY_PREFIX"])
        remove_broker_keys(env["CACHE_URL"], env["CACHE_KEY_PREFIX"])
        if moto is not None:
            moto.terminate()
            moto.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    with real_services(uuid.uuid4().hex[:10]) as env:
        return subprocess.call([sys.executable, "-m", "pytest", *argv], env=env, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
