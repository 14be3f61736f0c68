#!/usr/bin/env python
"""Request batching in one process: does gathering concurrent one-row requests into one model
call answer more of them than calling the model once per request?

Threads stand for the request threads of a threaded web worker (gunicorn ``gthread``): each
sends one-row batches as fast as it is answered, for ``--seconds``. Three ways to answer:

- ``direct``: each thread calls the serving runtime's compiled forward pass itself;
- ``batched``: threads queue their rows; one thread takes whatever is queued (up to
  ``--max-batch`` rows), calls the model once and hands each caller its rows' answer;
- ``batched+wait``: the same, waiting up to ``--window-ms`` for more rows before each call.

    .venv/bin/python benchmarks/predict_batching.py [--threads 1 4 16] [--seconds 5]
"""

import argparse
import os
import platform
import queue
import statistics
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class Batcher:
    """One model call for the rows that queued while the previous call ran."""

    def __init__(self, forward, *, max_batch: int, window_s: float):
        self.forward, self.max_batch, self.window_s = forward, max_batch, window_s
        self.requests: queue.Queue = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        future: Future = Future()
        self.requests.put((batch, future))
        return future.result()

    def _gather(self) -> list:
        taken = [self.requests.get()]
        deadline = time.perf_counter() + self.window_s
        while len(taken) < self.max_batch:
            try:
                left = deadline - time.perf_counter()
                taken.append(
                    self.requests.get(timeout=left) if left > 0 else self.requests.get_nowait()
                )
            except queue.Empty:
                break
        return taken

    def _run(self) -> None:
        while True:
            taken = self._gather()
            answers = self.forward(np.concatenate([batch for batch, _ in taken]))
            start = 0
            for batch, future in taken:
                future.set_result(answers[start : start + len(batch)])
                start += len(batch)


def drive(call, rows: np.ndarray, threads: int, seconds: float) -> dict:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + seconds

    def client(index: int) -> None:
        row = rows[index % len(rows)][None, :]
        while time.perf_counter() < stop:
            started = time.perf_counter()
            call(row)
            latencies[index].append((time.perf_counter() - started) * 1000)

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done = sorted(ms for each in latencies for ms in each)
    return {
        "calls_per_s": round(len(done) / seconds),
        "p50_ms": round(statistics.median(done), 3),
        "p99_ms": round(done[int(len(done) * 0.99) - 1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--window-ms", type=float, default=1.0)
    args = parser.parse_args()

    from sklearn.datasets import load_digits

    from experiments.training import trainer
    from inference.runtime import LoadedModel, Signature

    digits = load_digits()
    result = trainer.train(
        digits.data, digits.target, architecture="mlp", hyperparameters={"epochs": 1}
    )
    loaded = LoadedModel(result.model, Signature((64,), tuple(result.classes)))
    rows = digits.data.astype(np.float32)
    ways = {
        "direct": loaded.predict_proba,
        "batched": Batcher(loaded.predict_proba, max_batch=args.max_batch, window_s=0),
        "batched+wait": Batcher(
            loaded.predict_proba, max_batch=args.max_batch, window_s=args.window_ms / 1000
        ),
    }
    print(f"# {platform.node()} {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("| threads | way | calls/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for threads in args.threads:
        for name, call in ways.items():
            found = drive(call, rows, threads, args.seconds)
            cells = [threads, name, found["calls_per_s"], found["p50_ms"], found["p99_ms"]]
            print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
