#!/usr/bin/env python
"""Ingest throughput and memory: `ingest_dataset --file ... --wait` against a plain boto3
upload of the same file to the same S3 endpoint, in the same run.

Generates an .npz of ROWS x 64 float32 features (1 GB at the default 4 million rows) in
chunks, starts what the platform needs on this machine (a moto S3 endpoint unless
AWS_S3_ENDPOINT_URL is set, a PostgreSQL database, Redis key prefixes, one Celery worker), then
times:

- ``boto3``: ``upload_file`` of the file to the bucket (the floor: bytes over the wire);
- ``ingest``: ``manage.py ingest_dataset bench --file F --wait`` until READY (upload, worker
  fetch, hash, check, describe, store under the content address).

It prints one JSON object: seconds, the ratio boto3/ingest (1.0 = as fast as the floor), and
the peak RSS of the command and of the worker processes (VmHWM, read before they exit).

    .venv/bin/python benchmarks/ingest.py [--rows 4000000]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from run_tests import real_services, s3_client  # noqa: E402

CHUNK_ROWS = 250_000


def generate(path: Path, rows: int) -> None:
    """An .npz of ``rows`` x 64 float32 features and int64 labels, written chunk by chunk."""
    from datasets.formats import NpzWriter

    rng = np.random.default_rng(0)
    with NpzWriter(path) as writer:
        with writer.stream("x", shape=(rows, 64), dtype=np.float32) as member:
            for start in range(0, rows, CHUNK_ROWS):
                n = min(CHUNK_ROWS, rows - start)
                member.append(rng.standard_normal((n, 64), dtype=np.float32))
        writer.write("y", (np.arange(rows) % 10).astype(np.int64))


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a live process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [pid, *(p for kid in kids for p in process_tree(kid))]


def manage(env: dict, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", *args], env=env, cwd=ROOT, **kwargs)


def _server_sql(env: dict, statement: str) -> None:
    """Run a statement on the server of DATABASE_URL, outside its database."""
    import psycopg2

    admin_url = env["DATABASE_URL"].rsplit("/", 1)[0]
    connection = psycopg2.connect(admin_url + "/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(statement)
    connection.close()


def create_database(env: dict) -> None:
    _server_sql(env, f'CREATE DATABASE "{env["DATABASE_URL"].rsplit("/", 1)[1]}"')


def drop_database(env: dict) -> None:
    _server_sql(
        env, f'DROP DATABASE IF EXISTS "{env["DATABASE_URL"].rsplit("/", 1)[1]}" WITH (FORCE)'
    )


def time_boto3(env: dict, path: Path) -> float:
    client = s3_client(env)
    started = time.perf_counter()
    client.upload_file(str(path), env["AWS_STORAGE_BUCKET_NAME"], "benchmark/plain-upload.npz")
    seconds = time.perf_counter() - started
    client.delete_object(Bucket=env["AWS_STORAGE_BUCKET_NAME"], Key="benchmark/plain-upload.npz")
    return seconds


def time_ingest(env: dict, path: Path) -> tuple[float, float]:
    """Seconds until READY, and the command's peak RSS in MB."""
    started = time.perf_counter()
    command = manage(env, "ingest_dataset", "bench", "--file", str(path), "--wait")
    _, status, usage = os.wait4(command.pid, 0)
    seconds = time.perf_counter() - started
    command.returncode = os.waitstatus_to_exitcode(status)
    if command.returncode != 0:
        raise SystemExit(f"ingest_dataset exited {command.returncode}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    args = parser.parse_args()
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory(prefix="hpml-bench-") as tmp:
        path = Path(tmp) / "bench.npz"
        generate(path, args.rows)
        with real_services(f"bench{uuid.uuid4().hex[:6]}") as env:
            create_database(env)
            worker = None
            try:
                subprocess.run(
                    [sys.executable, "manage.py", "migrate", "-v", "0"],
                    env=env,
                    cwd=ROOT,
                    check=True,
                )
                worker = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "celery"),
                        *("-A", "hpml_portal", "worker", "-Q", "default"),
                        *("--concurrency", "1", "--loglevel", "WARNING"),
                    ],
                    env=env,
                    cwd=ROOT,
                )
                time.sleep(8)  # the worker connects to the broker
                boto3_seconds = time_boto3(env, path)
                ingest_seconds, command_mb = time_ingest(env, path)
                worker_mb = max(peak_rss_mb(pid) for pid in process_tree(worker.pid))
            finally:
                if worker is not None:
                    worker.terminate()
                    worker.wait(timeout=60)
                drop_database(env)
    size = args.rows * 64 * 4
    print(
        json.dumps(
            {
                "machine": f"{platform.node()} ({os.cpu_count()} cores)",
                "file_mb": round(size / 2**20),
                "boto3_upload_s": round(boto3_seconds, 2),
                "ingest_s": round(ingest_seconds, 2),
                "ratio": round(boto3_seconds / ingest_seconds, 2),
                "ingest_mb_per_s": round(size / 2**20 / ingest_seconds, 1),
                "command_peak_rss_mb": round(command_mb),
                "worker_peak_rss_mb": round(worker_mb),
                "this_process_peak_rss_mb": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
