#!/usr/bin/env python
"""Load and soak: predictions at high concurrency against a real portal while people list
runs and dataset versions and submit training runs, with every answer checked and the web
workers' memory watched.

One run:

1. trains the digits MLPs and starts the portal as ``benchmarks/predict.py`` does
   (``predict_portal``: ``gunicorn hpml_portal.wsgi --workers 2``, sync workers, token auth,
   every prediction logged, the predict throttle counted in Redis but set too high to refuse;
   a throwaway PostgreSQL database and Redis prefix, dropped at the end), and ingests the
   built-in digits set and makes an experiment (``load_setup.py``);
2. the soak: ``--clients`` connections predicting one row without pause for ``--duration``
   seconds (longer when the machine is so busy that 10,000 predictions take longer), while
   ``--listers`` clients list ``/api/v1/runs/`` and ``/api/v1/dataset-versions/`` in turn and
   ``--submissions`` training runs are submitted through the API, spread over the soak (no
   training worker runs: they stay QUEUED, which is checked afterwards);
3. VmRSS of each gunicorn worker after 1,000 predictions, after 10,000, at other counts and at
   the end; each worker's RSS after 10,000 must be within ``--rss-bound`` of its RSS after 1,000;
4. for context on a shared machine, the same predictions alone for ``--baseline`` seconds.

Any answer other than the expected status (200; 202 for a submission), a refused or cut
connection, a worker that exited, or RSS over the bound makes the script exit with status 1.
The client is ``load_client.py`` (asyncio, one connection per request); it shares the
machine's CPUs with the portal, PostgreSQL and Redis.

    .venv/bin/python benchmarks/load.py [--duration 60] [--clients 32] [--listers 1]
        [--submissions 3] [--baseline 20] [--rss-bound 0.05] [--out load.json]
"""

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import load_client as client  # noqa: E402 (after the path and environment)
import predict_portal as portal  # noqa: E402
import predict_report as report  # noqa: E402
from predict import smoke, train_models  # noqa: E402
from predict_servers import wait_ready  # noqa: E402

MILESTONES = (
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    300_000,
    400_000,
    500_000,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of the soak")
    parser.add_argument("--clients", type=int, default=32, help="concurrent predictions")
    parser.add_argument("--listers", type=int, default=1, help="concurrent listings")
    parser.add_argument("--submissions", type=int, default=3, help="training runs submitted")
    parser.add_argument("--baseline", type=float, default=20, help="seconds of predictions alone")
    parser.add_argument(
        "--rss-bound",
        type=float,
        default=client.RSS_BOUND,
        help="RSS growth allowed from 1,000 to 10,000 predictions (0.05: 5 %%)",
    )
    parser.add_argument("--portal-threads", type=int, default=1, help=">1: gthread workers")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--postgres", default=portal.POSTGRES_ADMIN_URL, help="admin URL")
    parser.add_argument("--redis", default=portal.REDIS_URL, help="Redis URL (db number)")
    return parser.parse_args()


def setup(backing: portal.Backing, work: Path, threads: int):
    """Models, database rows and the portal's target (not started yet): target, token,
    dataset version id, experiment id."""
    models, _, rows = train_models(work)
    env, token = portal.prepare(backing, work, models, throttle="1000000/min", extra={})
    made = run_setup(env)
    target = portal.portal_target(env, work, threads, token, rows)
    return target, token, made["dataset_version"], made["experiment"]


def run_setup(env: dict[str, str]) -> dict:
    """``load_setup.py`` in the portal's environment: the ids it printed."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("load_setup.py"))],
        env=env,
        cwd=portal.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load_setup.py failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plan_for(args, target, version_id: int, experiment_id: int, watch) -> client.Plan:
    predict_path = target.predict_url.split("://", 1)[1].split("/", 1)[1]
    submit = json.dumps(
        {
            "dataset_version": version_id,
            "architecture": "mlp",
            "model_name": "digits-load",
            "hyperparameters": {"epochs": 1},
        }
    ).encode()
    milestones = {n: (lambda count: watch.sample(f"{count:,}")) for n in MILESTONES}
    return client.Plan(
        predict=client.Call("POST", "/" + predict_path, target.body),
        seconds=args.duration,
        clients=args.clients,
        # On a busy machine the soak goes on past --duration until 10,000 were sent.
        min_predictions=10_000,
        max_seconds=10 * args.duration,
        listers=args.listers,
        listings=(
            client.Call("GET", "/api/v1/runs/"),
            client.Call("GET", "/api/v1/dataset-versions/"),
        ),
        submissions=tuple(
            client.Call("POST", f"/api/v1/experiments/{experiment_id}/runs/", submit, expect=202)
            for _ in range(args.submissions)
        ),
        milestones=milestones,
        check_prediction=answer_problem,
    )


def answer_problem(body: bytes) -> str:
    """Why a 200 answer is not a prediction of version 1 ("" when it is)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return "not JSON"
    if answer.get("version") != 1 or len(answer.get("predictions", ())) != 1:
        return f"unexpected answer {body[:200]!r}"
    return ""


async def run_statuses(http: client.Portal, bodies: list[bytes]) -> dict[int, str]:
    """The status of each submitted run now, by id."""
    found = {}
    for body in bodies:
        run_id = json.loads(body)["id"]
        status, answer = await http.send(client.Call("GET", f"/api/v1/runs/{run_id}/"))
        found[run_id] = json.loads(answer).get("status") if status == 200 else f"HTTP {status}"
    return found


def timed_phase(http: client.Portal, plan: client.Plan, pids: list[int]):
    """Run ``plan``; its result, and the CPU seconds each worker, this client and the whole
    machine spent meanwhile (the machine's less the others: PostgreSQL, Redis, gunicorn's
    master and whatever else runs on the shared machine)."""
    workers = {pid: client.cpu_seconds(pid) for pid in pids}
    own, machine = sum(os.times()[:2]), client.machine_busy_seconds()
    result = asyncio.run(client.run(http, plan))
    used = {
        "workers": {str(pid): round(client.cpu_seconds(pid) - workers[pid], 1) for pid in pids},
        "client": round(sum(os.times()[:2]) - own, 1),
        "machine": round(client.machine_busy_seconds() - machine, 1),
    }
    used["others"] = round(used["machine"] - sum(used["workers"].values()) - used["client"], 1)
    return result, used


def soak(args, target, token: str, version_id: int, experiment_id: int) -> dict:
    """Start the portal, soak it, then predict alone; the figures and what went wrong."""
    target.server.start()
    ready_s = wait_ready(target.server, target.ready_url, timeout=300, interval=0.1)
    smoke(target)
    master = target.server.process.pid
    pids = client.children(master)
    watch = client.MemoryWatch(pids)
    watch.sample("ready")
    http = client.Portal(target.predict_url.split("/api/", 1)[0], token)
    plan = plan_for(args, target, version_id, experiment_id, watch)
    mixed, mixed_cpu = timed_phase(http, plan, pids)
    watch.sample("end")
    processes = [master, *pids]
    found = {
        # What the portal's processes take together (master and workers, shared pages
        # counted once): what a pod's memory request should cover.
        "pss_kib_at_end": {str(pid): client.pss_kib(pid) for pid in processes},
        "start_to_ready_s": round(ready_s, 1),
        "workers": pids,
        "soak": mixed.summary(),
        "predictions_in_soak": mixed.predictions,
        "cpu_seconds_in_soak": mixed_cpu,
        "load_average_after_soak": [round(x, 2) for x in os.getloadavg()],
        "submitted_runs": asyncio.run(run_statuses(http, mixed.submitted)),
        "rss_kib": watch.samples,
        "rss_growth_1k_to_10k": {
            str(pid): round(g, 4) for pid, g in watch.growth("1,000", "10,000").items()
        }
        if "10,000" in watch.samples
        else None,
    }
    alone = None
    if args.baseline > 0:
        only = client.Plan(
            plan.predict, args.baseline, args.clients, check_prediction=answer_problem
        )
        alone, found["cpu_seconds_alone"] = timed_phase(http, only, pids)
    found["alone"] = alone.summary() if alone else None
    found["workers_replaced"] = client.children(master) != pids
    found["problems"] = problems(args, watch, mixed, found, alone)
    return found


def problems(args, watch, mixed, found: dict, alone) -> list[str]:
    """What went wrong: failed requests, runs not QUEUED, workers replaced, RSS over the
    bound (or too few predictions to compare)."""
    runs, wrong = found["submitted_runs"], []
    if mixed.errors:
        wrong.append(f"{mixed.errors} failed requests in the soak")
    if alone is not None and alone.errors:
        wrong.append(f"{alone.errors} failed predictions alone")
    if len(runs) != args.submissions or any(s != "QUEUED" for s in runs.values()):
        wrong.append(f"submitted runs: {runs} (expected {args.submissions}, all QUEUED)")
    if found["workers_replaced"]:
        wrong.append("a gunicorn worker was replaced during the run")
    if "10,000" not in watch.samples:
        wrong.append("fewer than 10,000 predictions: no RSS comparison")
    else:
        wrong += watch.over("1,000", "10,000", args.rss_bound)
    return wrong


def log_table(backing: portal.Backing) -> dict:
    """Rows of the prediction log and what the table takes in PostgreSQL (indexes and TOAST
    included): for sizing the database."""
    import psycopg2

    connection = psycopg2.connect(backing.database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), pg_total_relation_size('inference_predictionlog') "
                "FROM inference_predictionlog"
            )
            rows, size = cursor.fetchone()
    finally:
        connection.close()
    return {"rows": rows, "bytes": size, "bytes_per_row": round(size / rows) if rows else None}


def markdown(document: dict) -> str:
    found, machine = document["results"], document["machine"]
    soak_ = found["soak"]
    lines = [
        f"machine: {machine['cpu_model']}, {machine['cpus_usable']} CPUs usable, "
        f"{machine['memory']}, load average at start {machine['load_average_at_start']}",
        f"soak: {document['arguments']['clients']} predicting clients, "
        f"{document['arguments']['listers']} lister(s), {soak_['seconds']} s, "
        f"{found['predictions_in_soak']:,} predictions, {soak_['errors']} errors",
        "",
        "| requests | count | per s | p50 ms | p99 ms | max ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    parts = [("predict (soak)", soak_["predict"]), ("listings (soak)", soak_["listing"])]
    parts += [("submissions (soak)", soak_["submit"])]
    if found["alone"]:
        parts.append(("predict alone", found["alone"]["predict"]))
    for name, part in parts:
        lines.append(
            f"| {name} | {part['requests']:,} | {part['per_second']} | {part.get('p50_ms')} "
            f"| {part.get('p99_ms')} | {part.get('max_ms')} | {part['errors']} |"
        )
    lines += ["", "RSS (MiB) of each gunicorn worker at a count of predictions:", ""]
    for moment, by_pid in found["rss_kib"].items():
        values = ", ".join(f"{pid}: {kib / 1024:.1f}" for pid, kib in by_pid.items())
        lines.append(f"- {moment}: {values}")
    lines += [
        "",
        f"growth 1,000 -> 10,000: {found['rss_growth_1k_to_10k']} "
        f"(bound {document['arguments']['rss_bound']:.0%})",
        f"PSS (MiB) at the end, master and workers: "
        f"{sum(found['pss_kib_at_end'].values()) / 1024:.0f} ({found['pss_kib_at_end']})",
        f"CPU seconds in the soak: {found['cpu_seconds_in_soak']}",
        f"CPU seconds alone: {found.get('cpu_seconds_alone')}",
        f"submitted runs: {found['submitted_runs']}",
        f"prediction log: {found.get('prediction_log')}",
        f"problems: {found['problems'] or 'none'}",
    ]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    machine = report.machine_facts()
    with tempfile.TemporaryDirectory(prefix="hpml-load-") as tmp, contextlib.ExitStack() as s:
        work = Path(tmp)
        backing = portal.Backing.new(args.postgres, args.redis)
        backing.create()
        s.callback(backing.drop)
        target, token, version_id, experiment_id = setup(backing, work, args.portal_threads)
        s.callback(target.server.stop)
        try:
            results = soak(args, target, token, version_id, experiment_id)
        finally:
            target.server.stop()
        results["prediction_log"] = log_table(backing)
    document = {"machine": machine, "arguments": vars(args) | {"out": str(args.out)}}
    document["results"] = results
    print(markdown(document))
    if args.out:
        args.out.write_text(json.dumps(document, indent=2, default=str) + "\n")
        print(f"\nwrote {args.out}")
    return 1 if results["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
