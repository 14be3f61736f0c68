"""Fuzz the API through its OpenAPI schema: a real portal process on loopback, with a token of
each role, and schemathesis asking every operation of ``/api/schema/`` generated requests,
valid and invalid. Any 5xx, or any answer the schema does not describe, fails the run.

The portal runs on the services the test suite uses (``scripts/run_tests.py``: PostgreSQL, an
S3 endpoint, Redis, a throwaway MLflow store), in a database of its own made and dropped here,
seeded by ``tests/fuzz/world.py``. ``make fuzz`` runs it; the exit status is non-zero when any
role's run failed. ``--seed N`` replays a run; ``--max-time`` and ``--max-examples`` bound it.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from run_tests import real_services  # noqa: E402

from tests.fuzz.config import ROLES, schemathesis_config, st_command  # noqa: E402

BIN = Path(sys.executable).parent


@contextmanager
def database(env: dict) -> Iterator[None]:
    """The run's own PostgreSQL database, dropped afterwards (with any connection left)."""
    import psycopg2

    url, name = env["DATABASE_URL"].rsplit("/", 1)
    admin = psycopg2.connect(f"{url}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def portal(env: dict, folder: Path) -> Iterator[str]:
    """The portal under gunicorn on a loopback port the system picks, its production model
    loaded (one process, so one load); its base URL. Requests are logged to access.log."""
    log = folder / "portal.log"
    with open(log, "w+b") as out:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "hpml_portal.wsgi", "--bind", "127.0.0.1:0"]
            + ["--workers", "1", "--threads", "4", "--timeout", "120"]
            # No limit on the request line: a long URL is refused by the front server (in its
            # own words, an HTML page), which is no part of the API this describes.
            + ["--limit-request-line", "0"]
            + ["--access-logfile", str(folder / "access.log")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield _wait_ready(process, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen, log: Path, timeout: float = 120) -> str:
    """The base URL once /readyz answers 200: the process holds its models loaded, so no
    request of the fuzz waits for TensorFlow to load one."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the portal exited early:\n{log.read_text()[-3000:]}")
        found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            try:
                if requests.get(f"{found.group(1)}/readyz", timeout=5).status_code == 200:
                    return found.group(1)
            except requests.RequestException:
                pass  # not listening yet, or busy loading its models: asked again
        time.sleep(0.5)
    raise SystemExit(f"the portal was not ready within {timeout}s:\n{log.read_text()[-3000:]}")


def seed(env: dict) -> dict:
    """Migrate the run's database and make the world; what ``tests/fuzz/world.py`` printed."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    made = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.world"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(made.stdout.strip().splitlines()[-1])


def fuzz_roles(roles: list[str], world: dict, base: str, folder: Path, args) -> list[dict]:
    """Each role's schemathesis run, two at a time; their output printed as each ends."""
    results, waiting = [], list(roles)
    running: list[tuple[str, subprocess.Popen, float]] = []
    while waiting or running:
        while waiting and len(running) < 2:
            role = waiting.pop(0)
            command = st_command(
                base=base,
                key=world["keys"][role],
                config=folder / "schemathesis.toml",
                report=folder / f"{role}.json",
                args=args,
            )
            with open(folder / f"{role}.log", "wb") as out:
                process = subprocess.Popen(
                    command, cwd=folder, stdout=out, stderr=subprocess.STDOUT
                )
            running.append((role, process, time.monotonic()))
        time.sleep(0.5)
        for entry in [e for e in running if e[1].poll() is not None]:
            role, process, started = entry
            running.remove(entry)
            print(f"\n=== {role}\n{(folder / f'{role}.log').read_text()}", flush=True)
            results.append(_figures(role, process.returncode, time.monotonic() - started, folder))
    return sorted(results, key=lambda r: roles.index(r["role"]))


def _figures(role: str, status: int, seconds: float, folder: Path) -> dict:
    figures = {"role": role, "status": status, "seconds": seconds, "cases": 0, "failures": 0}
    report = folder / f"{role}.json"
    if report.exists():
        data = json.loads(report.read_text())
        figures["cases"] = data["test_cases"]["generated"]
        figures["failures"] = data["test_cases"]["unique_failures"]
        figures["errors"] = sum(error["count"] for error in data["errors"])
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--roles", default=",".join(ROLES), help="comma-separated")
    parser.add_argument("--seed", type=int, default=None, help="replay a run (printed)")
    parser.add_argument("--max-examples", type=int, default=20, help="per operation and phase")
    parser.add_argument("--max-time", type=int, default=80, help="seconds per role")
    parser.add_argument("--keep", help="folder that keeps the reports and the portal's log")
    args = parser.parse_args(argv)
    args.seed = args.seed if args.seed is not None else int(uuid.uuid4().int % 10**8)
    roles = [role for role in args.roles.split(",") if role]
    started = time.monotonic()
    run = uuid.uuid4().hex[:10]
    folder = Path(args.keep or tempfile.mkdtemp(prefix=f"hpml-fuzz-{run}-"))
    folder.mkdir(parents=True, exist_ok=True)
    with real_services(f"fuzz{run}") as env:
        env.update(
            DJANGO_SETTINGS_MODULE="hpml_portal.settings",
            # Writes are limited to 60 a minute per user: the fuzz would meet that limit and
            # stop reaching the checks behind it. The limit itself is tested in tests/accounts.
            THROTTLE_SUBMIT_RATE="off",
            PREDICTION_LOG_BACKGROUND="false",
        )
        with database(env):
            world = seed(env)
            (folder / "schemathesis.toml").write_text(schemathesis_config(world))
            with portal(env, folder) as base:
                fuzz_started = time.monotonic()
                results = fuzz_roles(roles, world, base, folder, args)
                fuzz_seconds = time.monotonic() - fuzz_started
    return report(results, folder, args, time.monotonic() - started, fuzz_seconds)


def report(results: list[dict], folder: Path, args, seconds: float, fuzz_seconds: float) -> int:
    """Print the figures; 1 when any role's run failed."""
    access = (folder / "access.log").read_text().splitlines()
    requests_made = sum(1 for line in access if " /api/v1/" in line)
    statuses = [line.split('" ')[1].split()[0] for line in access if " /api/v1/" in line]
    failed = [r["role"] for r in results if r["status"] != 0]
    print(
        f"\nfuzz (seed {args.seed}): {requests_made} API requests in {fuzz_seconds:.0f} s, "
        f"{seconds:.0f} s in all; 5xx answers: {sum(s.startswith('5') for s in statuses)}"
    )
    for r in results:
        word = "ok" if r["status"] == 0 else f"FAILED (exit {r['status']})"
        print(
            f"  {r['role']:<10} {r['cases']:6} test cases  {r['failures']:3} failures  "
            f"{r.get('errors', 0)} errors  {r['seconds']:4.0f} s  {word}"
        )
    if failed or args.keep:
        print(f"reports, the portal's logs and the schemathesis.toml used: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
