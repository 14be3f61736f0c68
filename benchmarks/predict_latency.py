#!/usr/bin/env python
"""Prediction latency: the serving path against Keras' model.predict, and over HTTP.

In process (no services needed): trains a small digits MLP, then times, per batch size,
``model.predict`` against the runtime's compiled forward pass (``inference.runtime``).
Over HTTP (optional): ``--url http://127.0.0.1:5000 --token KEY --model digits`` times
POST /api/v1/models/{model}/predict/ against a running portal (e.g. after ``make demo``).

    .venv/bin/python benchmarks/predict_latency.py [--repeat 200] [--url ... --token ...]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(fn, repeat: int) -> dict[str, float]:
    for _ in range(5):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 3),
    }


def in_process(repeat: int) -> list[dict]:
    from sklearn.datasets import load_digits

    from experiments.training import trainer
    from inference.runtime import LoadedModel, Signature

    digits = load_digits()
    result = trainer.train(
        digits.data, digits.target, architecture="mlp", hyperparameters={"epochs": 2}
    )
    loaded = LoadedModel(result.model, Signature((64,), tuple(result.classes)))
    rows = []
    for batch in (1, 32, 256):
        x = digits.data[:batch].astype("float32")
        rows.append(
            {
                "batch": batch,
                "model.predict": timed(lambda x=x: result.model.predict(x, verbose=0), repeat),
                "runtime": timed(lambda x=x: loaded.predict(x), repeat),
            }
        )
    return rows


def over_http(url: str, token: str, model: str, repeat: int) -> list[dict]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    rows = []
    for batch in (1, 32):
        body = json.dumps({"instances": digits.data[:batch].tolist()}).encode()

        def call(body=body):
            request = urllib.request.Request(
                f"{url.rstrip('/')}/api/v1/models/{model}/predict/",
                data=body,
                method="POST",
                headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request) as answer:
                answer.read()

        rows.append({"batch": batch, "http": timed(call, repeat)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--model", default="digits")
    args = parser.parse_args()
    import keras

    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "keras": f"{keras.__version__} ({keras.backend.backend()})",
        "in_process": in_process(args.repeat),
    }
    if args.url:
        report["http"] = over_http(args.url, args.token, args.model, args.repeat)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
