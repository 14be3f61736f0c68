#!/usr/bin/env python
"""What the platform adds to a training run: a run on a real worker (claim to SUCCEEDED, with
per-batch heartbeats, MLflow logging, evaluation, plots and the model's upload and
registration) against the same training done bare in a process of its own, in interleaved
pairs; how long a submitted run waits for an idle, warm worker to claim it; and a sweep's wall
time (submitted to its last run ended) over as many times one run's (submitted to ended).

Starts what it needs on this machine (a moto S3 endpoint unless AWS_S3_ENDPOINT_URL is set, a
PostgreSQL database, Redis key prefixes, one Celery worker) and removes it afterwards. Prints
one JSON object.

    .venv/bin/python benchmarks/train_overhead.py [--pairs 3] [--epochs 20] [--sweep 12]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest import create_database, drop_database  # noqa: E402
from run_tests import real_services  # noqa: E402

BARE = """
import time, sys
from sklearn.datasets import load_digits
from experiments.training import trainer
digits = load_digits()
trainer.train(digits.data[:200], digits.target[:200], architecture="mlp",
              hyperparameters={"epochs": 1})  # warm: imports and first graph
started = time.perf_counter()
trainer.train(digits.data, digits.target, architecture="mlp",
              hyperparameters={"epochs": EPOCHS})
print(time.perf_counter() - started)
"""


def bare_seconds(env: dict, epochs: int) -> float:
    """The same training with no platform around it, in a fresh process like a worker's."""
    out = subprocess.run(
        [sys.executable, "-c", BARE.replace("EPOCHS", str(epochs))],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def manage(env: dict, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def run_times(env: dict, run_id: int) -> tuple[float, float]:
    """(created to claimed, claimed to finished) of a run, from its row."""
    script = (
        "from experiments.models import TrainingRun; "
        f"r = TrainingRun.objects.get(pk={run_id}); "
        "print((r.started_at - r.created_at).total_seconds(), "
        "(r.finished_at - r.started_at).total_seconds(), r.status)"
    )
    queued, ran, status = manage(env, "shell", "-c", script).split()[-3:]
    if status != "SUCCEEDED":
        raise SystemExit(f"run {run_id} ended {status}")
    return float(queued), float(ran)


def platform_run(env: dict, epochs: int) -> tuple[float, float]:
    out = manage(
        env,
        *("train", "--dataset", "digits", "--experiment", "bench", "--model-name", "bench"),
        *("--param", f"epochs={epochs}", "--wait", "--timeout", "600"),
    )
    run_id = int(out.split("queued run ", 1)[1].split(":", 1)[0])
    return run_times(env, run_id)


def sweep_seconds(env: dict, runs: int, epochs: int) -> dict:
    """A sweep of ``runs`` runs of the same size as the pairs' (learning rates crossed with
    seeds), through the command: submitted to every run ended."""
    space = {"learning_rate": [0.001, 0.002, 0.003, 0.004], "seed": list(range(-(-runs // 4)))}
    space["epochs"] = epochs
    started = time.perf_counter()
    out = manage(
        env,
        *("sweep", "--dataset", "digits", "--experiment", "bench", "--model-name", "bench"),
        *("--space", json.dumps(space), "--random", str(runs), "--wait", "--timeout", "1800"),
    )
    wall = time.perf_counter() - started
    if out.splitlines()[-1] != "SUCCEEDED":
        raise SystemExit(f"the sweep did not succeed:\n{out}")
    return {"runs": runs, "wall_s": round(wall, 2)}


def single_wall_seconds(env: dict, epochs: int) -> float:
    """One run through the same command path: submitted to ended."""
    started = time.perf_counter()
    platform_run(env, epochs)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--sweep", type=int, default=0, help="runs of a sweep to time (0: none)")
    args = parser.parse_args()
    sweep = None
    with real_services(f"train{uuid.uuid4().hex[:6]}") as env:
        create_database(env)
        worker = None
        try:
            manage(env, "migrate", "-v", "0")
            worker = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "celery"),
                    *("-A", "hpml_portal", "worker", "-Q", "default,training"),
                    *("--concurrency", "1", "--loglevel", "WARNING"),
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            manage(env, "ingest_dataset", "digits", "--builtin", "digits", "--wait")
            platform_run(env, 1)  # warm the worker: imports, first graph, MLflow experiment
            pairs = []
            for _ in range(args.pairs):
                bare = bare_seconds(env, args.epochs)
                time.sleep(2)  # the worker idles, as a warm worker waiting for work does
                queued, ran = platform_run(env, args.epochs)
                pairs.append(
                    {
                        "bare_s": round(bare, 2),
                        "platform_s": round(ran, 2),
                        "ratio": round(ran / bare, 3),
                        "claim_delay_s": round(queued, 3),
                    }
                )
            if args.sweep:
                # A single run and the sweep, each submitted and waited for by the command.
                singles = [single_wall_seconds(env, args.epochs) for _ in range(2)]
                sweep = sweep_seconds(env, args.sweep, args.epochs)
                one = statistics.median(singles)
                sweep["one_run_wall_s"] = round(one, 2)
                sweep["ratio_to_n_runs"] = round(sweep["wall_s"] / (args.sweep * one), 3)
                # Against the runs' own time (claim to end), without a command's start-up.
                ran = statistics.median(p["platform_s"] for p in pairs)
                sweep["ratio_to_n_claim_to_end"] = round(sweep["wall_s"] / (args.sweep * ran), 3)
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=60)
            drop_database(env)
    print(
        json.dumps(
            {
                "machine": f"{platform.node()} ({os.cpu_count()} cores)",
                "epochs": args.epochs,
                "pairs": pairs,
                "median_ratio": round(statistics.median(p["ratio"] for p in pairs), 3),
                "median_claim_delay_s": round(
                    statistics.median(p["claim_delay_s"] for p in pairs), 3
                ),
                "sweep": sweep,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
