#!/usr/bin/env python
"""Prediction over HTTP: the portal against MLflow, BentoML and a bare DRF endpoint.

One run trains a small digits MLP with the platform's trainer and measures, one server at a
time, with the same client (wrk, a POST of one row of 64 floats), at 1 connection
(``-t1 -c1``) and 16 (``-t2 -c16``), ``--duration`` seconds each after a ``--warmup``:

1. the portal, ``gunicorn hpml_portal.wsgi --workers 2`` (``--portal-threads N`` > 1: gthread
   workers with N threads), token auth, every prediction logged, on a throwaway PostgreSQL
   database (``hpml_bench_<random>``, dropped at the end), a Redis key prefix of the same name
   (removed at the end) and files in a temporary folder; the predict throttle counts every
   request in Redis but is set too high to refuse any (``--portal-throttle``);
2. ``mlflow models serve --env-manager local --workers 2`` on the same model, logged to a
   throwaway MLflow store;
3. BentoML 1.4 (``benchmarks/bento_service.py``: 2 workers, no access log, the model called
   through a compiled ``tf.function``), in its own virtualenv ``benchmarks/.venv-bento`` with
   the TensorFlow and Keras of requirements.lock, made on first use (``--skip-bento`` leaves
   it out);
4. the DRF floor (``benchmarks/predict_floor.py``): one APIView that parses the body and
   answers a constant, with the portal's gunicorn settings.

For the portal it also times the first prediction once ``/readyz`` answers 200 on a fresh
gunicorn, and how long after moving ``production`` from version 1 to 2 over the API 50
answers in a row come from version 2. It prints a markdown table and the ratios, and writes
everything as JSON with ``--out FILE``. A run with non-2xx answers or socket errors is
flagged in the table and makes the script exit with status 1.

Needs: ``.venv`` (``make demo`` or ``pip install -r requirements.lock``), wrk (``apt install
wrk``), PostgreSQL (a role that may create databases; ``--postgres``) and Redis
(``--redis``), and for BentoML the package registry once, to make its virtualenv.

    .venv/bin/python benchmarks/predict.py [--duration 10] [--warmup 3] [--portal-threads 1]
        [--skip-bento] [--out benchmarks/predict_results.json] [--log-dir DIR]
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import predict_baselines as baselines  # noqa: E402 (after the path and environment)
import predict_portal as portal  # noqa: E402
import predict_report as report  # noqa: E402
from predict_servers import Target, http_call, measure, wait_ready, write_wrk_script  # noqa: E402

CONNECTIONS = (1, 16)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument(
        "--warmup", type=int, default=3, help="seconds of warm-up per run (0: none)"
    )
    parser.add_argument("--portal-threads", type=int, default=1, help=">1: gthread workers")
    parser.add_argument("--skip-bento", action="store_true", help="leave BentoML out")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--log-dir", type=Path, help="keep the servers' logs here")
    parser.add_argument("--postgres", default=portal.POSTGRES_ADMIN_URL, help="admin URL")
    parser.add_argument("--redis", default=portal.REDIS_URL, help="Redis URL (db number)")
    parser.add_argument(
        "--portal-throttle",
        default="1000000/min",
        help="THROTTLE_PREDICT_RATE: counted in Redis, set high enough never to refuse",
    )
    parser.add_argument(
        "--portal-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the portal's processes, over the benchmark's own (repeatable)",
    )
    return parser.parse_args()


def train_models(work: Path) -> tuple[list[dict], object, bytes]:
    """Two digits MLPs (versions 1 and 2), the first Keras model, and the body's rows."""
    from sklearn.datasets import load_digits

    from experiments.training import trainer

    digits = load_digits()
    models, first = [], None
    for number, seed in ((1, 42), (2, 7)):
        result = trainer.train(
            digits.data,
            digits.target,
            architecture="mlp",
            hyperparameters={"epochs": 2, "seed": seed},
        )
        path = work / f"digits-{number}.keras"
        result.model.save(path)
        first = first or result.model
        models.append(_model_entry(path, result))
    rows = json.dumps(digits.data[:1].tolist()).encode()
    return models, first, rows


def _model_entry(path: Path, result) -> dict:
    return {
        "path": str(path),
        "input_shape": list(result.input_shape),
        "classes": [int(c) for c in result.classes],
        "metrics": {k: float(v) for k, v in result.test_metrics.items() if _is_number(v)},
    }


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def smoke(target: Target) -> str:
    """One request answered 200 with the expected key, before wrk sends thousands; its
    answer, shortened."""
    status, answer = http_call(target.predict_url, body=target.body, headers=target.headers)
    if status != 200 or not isinstance(answer, dict) or target.answer_key not in answer:
        raise RuntimeError(f"{target.server.name} answered {status}: {str(answer)[:500]}")
    return json.dumps(answer)[:300]


def load_runs(target: Target, args, work: Path) -> list[dict]:
    script = write_wrk_script(work / f"{target.server.name}.lua", target.body, target.headers)
    runs = []
    for connections in CONNECTIONS:
        run = measure(
            target.predict_url,
            script,
            connections=connections,
            seconds=args.duration,
            warmup=args.warmup,
        )
        if run["errors"]:
            run["answer_after_errors"] = _answer_sample(target)
        runs.append({"server": target.server.name, **run})
    return runs


def _answer_sample(target: Target) -> str:
    """What the server answers now, to say why a run had errors."""
    status, answer = http_call(target.predict_url, body=target.body, headers=target.headers)
    return f"{status}: {str(answer)[:300]}"


def bench_baseline(stack, target: Target, args, work: Path) -> dict:
    """Start the server, wait until ready, check one answer, measure, stop."""
    stack.callback(target.server.stop)
    target.server.start()
    wait_ready(target.server, target.ready_url, timeout=300, interval=0.1)
    try:
        sample = smoke(target)
        return {"runs": load_runs(target, args, work), "sample_answer": sample}
    finally:
        target.server.stop()


def bench_portal(stack, args, work: Path, models: list[dict], rows: bytes) -> dict:
    """Set up the portal's database and models, then measure it: first prediction, load,
    promotion."""
    backing = portal.Backing.new(args.postgres, args.redis)
    backing.create()
    stack.callback(backing.drop)
    extra = dict(item.split("=", 1) for item in args.portal_env)
    env, token = portal.prepare(backing, work, models, throttle=args.portal_throttle, extra=extra)
    target = portal.portal_target(env, work, args.portal_threads, token, rows)
    stack.callback(target.server.stop)
    found = {"first_prediction": portal.first_prediction(target)}
    found["sample_answer"] = smoke(target)
    found["runs"] = load_runs(target, args, work)
    found["promotion"] = portal.promotion(target, to_version=2)
    target.server.stop()
    found["prediction_log_rows"] = backing.prediction_log_count()
    return {**found, "database": backing.name}


def bench_all(stack, args, work: Path) -> dict:
    """Prepare the models, then measure one server at a time."""
    if not args.skip_bento:
        baselines.bento_venv_ensure()
    models, model, rows = train_models(work)
    example = _as_float32(json.loads(rows))
    tracking_uri, model_uri = baselines.mlflow_log(model, example, work)
    results = {"portal": bench_portal(stack, args, work, models, rows)}
    targets = [baselines.mlflow_target(tracking_uri, model_uri, rows, work)]
    if not args.skip_bento:
        targets.append(baselines.bento_target(Path(models[0]["path"]), rows, work))
    targets.append(baselines.floor_target(rows, work, args.portal_threads))
    results["baselines"] = {t.server.name: bench_baseline(stack, t, args, work) for t in targets}
    return results


def keep_logs(work: Path, log_dir: Path | None) -> None:
    if log_dir is None:
        return
    log_dir.mkdir(parents=True, exist_ok=True)
    for log in work.glob("*.log"):
        shutil.copy(log, log_dir / log.name)


def _as_float32(rows: list):
    import numpy as np

    return np.asarray(rows, dtype=np.float32)


def _stop_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main() -> int:
    args = parse_args()
    _stop_on_sigterm()
    machine = report.machine_facts()
    with tempfile.TemporaryDirectory(prefix="hpml-bench-") as tmp, contextlib.ExitStack() as s:
        s.callback(keep_logs, Path(tmp), args.log_dir)  # last: after every server stopped
        results = bench_all(s, args, Path(tmp))
    if not args.skip_bento:
        machine["bentoml"] = baselines.bento_version()
    document = report.assemble(args, machine, results)
    print(report.markdown(document))
    if args.out:
        args.out.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    return 1 if document["flagged"] else 0


if __name__ == "__main__":
    sys.exit(main())
