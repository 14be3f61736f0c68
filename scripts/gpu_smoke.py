#!/usr/bin/env python
"""Train with the platform's training core on whatever the Keras backend sees, and say how fast.

A check for an accelerator machine that has Keras and a backend but none of the portal:

    KERAS_BACKEND=jax python scripts/gpu_smoke.py            # 42,000 samples, 3 epochs
    KERAS_BACKEND=torch python scripts/gpu_smoke.py --quick  # 2,000 samples, 2 epochs

It needs keras, numpy and the backend's own package (jax, torch or tensorflow), and imports
``experiments/training`` from this checkout, which imports nothing of Django, MLflow or (on
another backend) TensorFlow; it fails if any of them got imported. The data are made here:
28x28 images of a blob whose place depends on the class (ten classes, separable). For ``mlp``
and ``cnn``, batch 256, it prints the backend, the devices, the distribution, training samples
per second over the epochs after the first (the first compiles) and the test accuracy.
``--batch-hooks`` trains with ``should_stop`` and ``on_batch`` hooks, as a worker showing
progress within each epoch would, to see what a callback after every batch costs.
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402  (after the path: the trainer comes from this checkout)

from experiments.training import trainer  # noqa: E402

CLASSES = 10


def digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, 28, 28, 1) in [0, 1] and their classes: each class its own 7x7 glyph,
    drawn 14x14 at a place that moves by up to 3 pixels, in noise."""
    rng = np.random.default_rng(seed)
    glyphs = np.kron(rng.random((CLASSES, 7, 7)) < 0.4, np.ones((2, 2))).astype(np.float32)
    y = rng.integers(0, CLASSES, size=n)
    x = rng.normal(0, 0.3, (n, 28, 28)).astype(np.float32)
    for (row, col), where in _groups(rng.integers(4, 11, size=(n, 2))):
        x[where, row : row + 14, col : col + 14] += glyphs[y[where]]
    return np.clip(x, 0, 1)[..., None], y


def _groups(offsets: np.ndarray):
    """((row, col), indices of the images drawn there) for each offset used."""
    unique, inverse = np.unique(offsets, axis=0, return_inverse=True)
    for i, offset in enumerate(unique):
        yield tuple(offset), np.flatnonzero(inverse.ravel() == i)


def check_imports() -> None:
    banned = ["django", "mlflow"] + (
        [] if keras.backend.backend() == "tensorflow" else ["tensorflow"]
    )
    loaded = [name for name in banned if name in sys.modules]
    if loaded:
        sys.exit(f"the training core imported {', '.join(loaded)}")


def smoke(architecture: str, x, y, *, epochs: int, batch_hooks: bool) -> dict:
    ended = []  # when each epoch ended: its metrics were read back, so the device is done
    batches = []
    hooks = {}
    if batch_hooks:
        hooks = {"should_stop": lambda: False, "on_batch": lambda *args: batches.append(args)}
    hp = {"epochs": epochs, "batch_size": 256, "validation_fraction": 0, "learning_rate": 3e-3}
    started = time.monotonic()
    result = trainer.train(
        x,
        y,
        architecture=architecture,
        hyperparameters=hp,
        on_epoch=lambda epoch, metrics: ended.append(time.monotonic()),
        **hooks,
    )
    rows = result.split_sizes["train"]
    if batch_hooks and len(batches) != epochs * math.ceil(rows / 256):
        sys.exit(f"on_batch was called {len(batches)} times")
    steady = rows * (epochs - 1) / (ended[-1] - ended[0]) if epochs > 1 else float("nan")
    return {
        "architecture": architecture,
        "backend": result.backend,
        "devices": ",".join(result.devices),
        "distribution": result.distribution,
        "train_rows": rows,
        "epochs": epochs,
        "first_epoch_s": round(ended[0] - started, 2),
        "samples_per_s": round(steady) if steady == steady else None,  # NaN with 1 epoch
        "test_accuracy": round(result.test_metrics["test_accuracy"], 4),
        "total_s": round(result.seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 samples, 2 epochs")
    parser.add_argument("--epochs", type=int, help="epochs (default 3, 2 with --quick)")
    parser.add_argument("--batch-hooks", action="store_true", help="train with batch hooks")
    args = parser.parse_args()
    samples, epochs = (2_000, 2) if args.quick else (42_000, 3)
    x, y = digits(samples)
    check_imports()
    print(f"keras {keras.__version__}, python {sys.version.split()[0]}, {samples} samples")
    for architecture in ("mlp", "cnn"):
        row = smoke(architecture, x, y, epochs=args.epochs or epochs, batch_hooks=args.batch_hooks)
        print("  ".join(f"{key}={value}" for key, value in row.items()), flush=True)
    check_imports()


if __name__ == "__main__":
    main()
