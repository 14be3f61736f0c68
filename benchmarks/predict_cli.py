#!/usr/bin/env python
"""``manage.py predict`` from a shell: three rows, with and without a worker, and its errors.

One run trains a small digits MLP, registers it as ``digits`` (``production``) on a throwaway
PostgreSQL database and Redis key prefix (``benchmarks/predict_portal.py``'s, removed at the
end), then times ``--repeat`` runs of each case, each a new process, from its start to its
exit (wall clock):

1. ``manage.py check``: Django's start, the floor of any command;
2. errors, no worker up: an unknown model, a file that is not JSON, rows of the wrong size;
3. in process, no worker up: the command waits ``--worker-wait`` (default 0.5 s) for a worker,
   then predicts itself; and with ``--worker-wait 0``, which does not ask;
4. a worker: a Celery worker on the ``default`` queue (``--concurrency 1``), after one
   prediction that loaded the model in it (``--skip-worker`` leaves it out).

Every prediction is checked to answer the same three labels; the worker's runs are checked to
have been answered by the worker. Prints a markdown table (median, min, max in s) with each
case's median over the in-process median, and writes everything as JSON with ``--out FILE``.

Needs: ``.venv``, PostgreSQL (a role that may create databases; ``--postgres``) and Redis
(``--redis``).

    .venv/bin/python benchmarks/predict_cli.py [--repeat 5] [--skip-worker] [--out FILE]
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import predict_portal as portal  # noqa: E402 (after the path and environment)
from predict_servers import Server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ROWS = 3
BY_WORKER = "answered by a worker"  # what the command says on stderr at --verbosity 2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per case")
    parser.add_argument("--skip-worker", action="store_true", help="no worker case")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--postgres", default=portal.POSTGRES_ADMIN_URL, help="admin URL")
    parser.add_argument("--redis", default=portal.REDIS_URL, help="Redis URL (db number)")
    return parser.parse_args()


def train_model(work: Path) -> tuple[dict, list, list]:
    """The registered model's entry, three rows and the labels the model gives them."""
    from sklearn.datasets import load_digits

    from experiments.training import trainer

    digits = load_digits()
    result = trainer.train(
        digits.data, digits.target, architecture="mlp", hyperparameters={"epochs": 2}
    )
    path = work / "digits.keras"
    result.model.save(path)
    entry = {
        "path": str(path),
        "input_shape": list(result.input_shape),
        "classes": [int(c) for c in result.classes],
        "metrics": {},
    }
    rows = digits.data[:ROWS].tolist()
    labels = [int(result.classes[i]) for i in result.model(digits.data[:ROWS]).numpy().argmax(1)]
    return entry, rows, labels


def cases(work: Path, rows: list) -> dict[str, list[str]]:
    """Each case's arguments to manage.py, with the files they read."""
    good, broken, short = work / "rows.json", work / "broken.json", work / "short.json"
    good.write_text(json.dumps({"instances": rows}))
    broken.write_text('{"instances": [[1, 2]')
    short.write_text(json.dumps({"instances": [row[:-1] for row in rows]}))
    predict = ["predict", "digits", "--verbosity", "2", "--input"]
    return {
        "manage.py check": ["check"],
        "error: unknown model": ["predict", "nope", "--input", str(good)],
        "error: not JSON": [*predict, str(broken)],
        "error: wrong row size": [*predict, str(short)],
        "in process (no worker up)": [*predict, str(good)],
        "in process (--worker-wait 0)": [*predict, str(good), "--worker-wait", "0"],
    }


def run_once(env: dict, args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return time.perf_counter() - started, done


def time_case(env: dict, args: list[str], repeat: int, check) -> dict:
    seconds = []
    for _ in range(repeat):
        elapsed, done = run_once(env, args)
        check(done)
        seconds.append(elapsed)
    return {
        "median_s": round(statistics.median(seconds), 3),
        "min_s": round(min(seconds), 3),
        "max_s": round(max(seconds), 3),
        "runs": [round(s, 3) for s in seconds],
    }


def checker(name: str, labels: list, *, by_worker: bool = False):
    """What a case's every run must show: an error for the error cases, else the labels."""

    def check(done: subprocess.CompletedProcess) -> None:
        if name.startswith("error"):
            if done.returncode == 0 or len(done.stderr.strip().splitlines()) != 1:
                raise RuntimeError(f"{name}: expected a one-line error, got {done.stderr!r}")
            return
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr[-2000:]}")
        if "predict" in name and json.loads(done.stdout)["predictions"] != labels:
            raise RuntimeError(f"{name}: other predictions than the model's: {done.stdout}")
        if by_worker != (BY_WORKER in done.stderr):
            raise RuntimeError(f"{name}: answered by the wrong side: {done.stderr!r}")

    return check


def start_worker(env: dict, work: Path) -> Server:
    command = [str(Path(sys.executable).with_name("celery")), "-A", "hpml_portal", "worker"]
    command += ["-Q", "default", "--concurrency", "1", "--without-gossip", "--without-mingle"]
    return Server("worker", command, env, work / "worker.log", cwd=ROOT).start()


def bench_worker(stack, env: dict, work: Path, good: list[str], repeat: int, labels) -> dict:
    """Start a worker, let one prediction load the model in it, then time the case."""
    worker = start_worker(env, work)
    stack.callback(worker.stop)
    _, done = run_once(env, [*good, "--worker-wait", "120"])  # its start and the model's load
    worker.check_alive()
    checker("warm-up", labels, by_worker=True)(done)
    check = checker("worker", labels, by_worker=True)
    return time_case(env, good, repeat, check)


def bench_all(stack, args, work: Path) -> dict:
    entry, rows, labels = train_model(work)
    backing = portal.Backing.new(args.postgres, args.redis)
    backing.create()
    stack.callback(backing.drop)
    env, _ = portal.prepare(backing, work, [entry], throttle="off", extra={})
    found = {}
    for name, case_args in cases(work, rows).items():
        found[name] = time_case(env, case_args, args.repeat, checker(name, labels))
    if not args.skip_worker:
        good = cases(work, rows)["in process (no worker up)"]
        found["worker (default queue)"] = bench_worker(stack, env, work, good, args.repeat, labels)
    return found


def markdown(results: dict) -> str:
    base = results["in process (no worker up)"]["median_s"]
    lines = ["| case | median s | min / max s | median / in process |", "|---|---|---|---|"]
    for name, found in results.items():
        ratio = found["median_s"] / base
        lines.append(
            f"| {name} | {found['median_s']:.2f} | {found['min_s']:.2f} / {found['max_s']:.2f}"
            f" | {ratio:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="hpml-bench-") as tmp, contextlib.ExitStack() as s:
        results = bench_all(s, args, Path(tmp))
    print(f"{os.cpu_count()} CPUs, load average at the start {load}, {args.repeat} runs a case\n")
    print(markdown(results))
    if args.out:
        args.out.write_text(json.dumps({"load_average": load, "cases": results}, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
