"""The portal under test for ``benchmarks/predict.py``: a throwaway PostgreSQL database and
Redis key prefix, its migrations and registered models, its gunicorn, and the two
measurements only the portal has (the first prediction after start, and a promotion)."""

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from predict_servers import Server, Target, free_port, http_call, wait_ready

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
PROMOTION_STREAK = 50  # answers in a row from the new version: every worker has switched
PROMOTION_TIMEOUT = 120.0


@dataclass
class Backing:
    """The database and Redis key prefix one benchmark run owns."""

    name: str
    postgres_admin_url: str = POSTGRES_ADMIN_URL
    redis_url: str = REDIS_URL

    @classmethod
    def new(cls, postgres_admin_url: str, redis_url: str) -> "Backing":
        return cls(f"hpml_bench_{secrets.token_hex(4)}", postgres_admin_url, redis_url)

    @property
    def database_url(self) -> str:
        return self.postgres_admin_url.rsplit("/", 1)[0] + f"/{self.name}"

    def create(self) -> None:
        self._admin_sql(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        try:
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            self._remove_redis_keys()

    def prediction_log_count(self) -> int:
        import psycopg2

        connection = psycopg2.connect(self.database_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM inference_predictionlog")
                return cursor.fetchone()[0]
        finally:
            connection.close()

    def _admin_sql(self, statement: str) -> None:
        import psycopg2

        connection = psycopg2.connect(self.postgres_admin_url)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def _remove_redis_keys(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        keys = list(client.scan_iter(match=f"{self.name}*", count=1000))
        if keys:
            client.delete(*keys)


def portal_env(backing: Backing, var_dir: Path, *, throttle: str) -> dict[str, str]:
    """The environment of every portal process: the run's database, Redis prefix, files and
    MLflow store, with prediction logging on for every request."""
    static_root = var_dir / "staticfiles"
    static_root.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start without
    env = dict(os.environ)
    env.update(
        HPML_ENV_FILE=str(var_dir / "no.env"),  # a developer's .env must not leak in
        HPML_VAR_DIR=str(var_dir),
        STATIC_ROOT=str(static_root),
        SECRET_KEY=secrets.token_urlsafe(32),
        DEBUG="false",
        DATABASE_URL=backing.database_url,
        CELERY_BROKER_URL=backing.redis_url,
        CELERY_BROKER_KEY_PREFIX=f"{backing.name}:",
        CACHE_URL=backing.redis_url,
        CACHE_KEY_PREFIX=f"{backing.name}-cache",
        MLFLOW_TRACKING_URI=f"sqlite:///{var_dir / 'mlflow.db'}",
        MLFLOW_DISABLE_TELEMETRY="true",
        PREDICTION_LOG_SAMPLE_RATE="1.0",
        THROTTLE_PREDICT_RATE=throttle,
        LOG_LEVEL="WARNING",
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(
    backing: Backing, work: Path, models: list[dict], *, throttle: str, extra: dict[str, str]
):
    """Migrate the run's database and register ``models``: the portal's environment and an
    API token."""
    env = {**portal_env(backing, work / "var", throttle=throttle), **extra}
    manage(env, "migrate", "--no-input")
    return env, register(env, models, work)["token"]


def register(env: dict[str, str], models: list[dict], work_dir: Path) -> dict:
    """Register ``models`` as versions 1, 2, ... of ``digits`` (production on 1) in the
    portal's database; the answer holds the API token."""
    spec = work_dir / "register.json"
    spec.write_text(json.dumps({"models": models}))
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("predict_register.py")), str(spec)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"registering the models failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def gunicorn_command(app: str, port: int, threads: int) -> list[str]:
    """gunicorn with two workers: sync, or gthread when ``threads`` > 1."""
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--timeout",
        "120",
        "--no-control-socket",  # the default path is shared by every gunicorn of this user
    ]
    if threads > 1:
        command += ["--worker-class", "gthread", "--threads", str(threads)]
    return command


def portal_target(env: dict, log_dir: Path, threads: int, token: str, rows: bytes) -> Target:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(
        name="portal",
        command=gunicorn_command("hpml_portal.wsgi", port, threads),
        env=env,
        log_path=log_dir / "portal.log",
        cwd=ROOT,
    )
    return Target(
        server=server,
        ready_url=f"{base}/readyz",
        predict_url=f"{base}/api/v1/models/digits/predict/",
        body=b'{"instances": ' + rows + b"}",
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
        answer_key="version",
    )


def first_prediction(target: Target) -> dict:
    """Start the server, poll /readyz every 20 ms, then time one prediction."""
    target.server.start()
    ready_s = wait_ready(target.server, target.ready_url, timeout=300, interval=0.02)
    started = time.perf_counter()
    status, answer = http_call(target.predict_url, body=target.body, headers=target.headers)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"the first prediction answered {status}: {answer}")
    return {
        "start_to_ready_ms": round(ready_s * 1000, 1),
        "first_predict_ms": round(elapsed_ms, 1),
        "version": answer.get("version"),
    }


def promotion(target: Target, *, to_version: int) -> dict:
    """Move ``production`` to ``to_version`` over the API, then predict until
    ``PROMOTION_STREAK`` answers in a row come from it; times from sending the promotion."""
    alias_url = target.predict_url.replace("/predict/", f"/versions/{to_version}/aliases/")
    promote_body = json.dumps({"alias": "production", "comment": "benchmark"}).encode()
    started = time.perf_counter()
    status, answer = http_call(alias_url, body=promote_body, headers=target.headers)
    promoted = time.perf_counter()
    if status != 201:
        raise RuntimeError(f"the promotion answered {status}: {answer}")
    seen = _await_streak(target, to_version)
    return {
        "promote_request_ms": round((promoted - started) * 1000, 1),
        "promotion_to_switch_ms": round((seen["streak_started"] - started) * 1000, 1),
        "promotion_to_streak_end_ms": round((seen["finished"] - started) * 1000, 1),
        "streak": PROMOTION_STREAK,
        "old_version_answers": seen["old"],
        "error_answers": seen["errors"],
    }


def _await_streak(target: Target, version: int) -> dict:
    """Predict until PROMOTION_STREAK answers in a row come from ``version``: when the
    streak's first answer came, when its last did, and the other answers meanwhile."""
    deadline = time.perf_counter() + PROMOTION_TIMEOUT
    seen = {"streak": 0, "streak_started": None, "old": 0, "errors": 0}
    while seen["streak"] < PROMOTION_STREAK:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{PROMOTION_STREAK} answers from version {version} not seen")
        status, answer = http_call(target.predict_url, body=target.body, headers=target.headers)
        if status == 200 and answer.get("version") == version:
            if seen["streak"] == 0:
                seen["streak_started"] = time.perf_counter()
            seen["streak"] += 1
            continue
        seen["errors" if status != 200 else "old"] += 1
        seen["streak"] = 0
    return {**seen, "finished": time.perf_counter()}
