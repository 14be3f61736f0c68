"""Training on data larger than a worker's memory: features above
``TRAINING_IN_MEMORY_BYTES`` are decoded once to a float32 file, mapped, and read from there a
batch at a time, so the worker's resident memory does not grow with the dataset."""

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from datasets import formats, services
from datasets.ingest import dataset_version_execute
from experiments import services as experiment_services
from experiments.runner import training_run_execute
from experiments.training import trainer
from tests.conftest import npz_bytes

ROOT = Path(__file__).resolve().parents[2]

# What a training worker does with a dataset file, less Django and MLflow: open it (features
# to a mapped file above the threshold), train, evaluate and predict the test split.
CHILD = """
import json, sys
from pathlib import Path
import numpy as np
from datasets import formats
from experiments.training import trainer

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as fp:
            fp.write("5")  # VmHWM starts again from the current RSS
    except OSError:
        pass  # VmHWM then counts from the start: the growth measured is an upper bound

path, folder, threshold = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
hp = {"epochs": 2, "batch_size": 256, "learning_rate": 0.01}
# Warm up on a small dataset, in memory and mapped, so that what the backend sets up once
# (graphs, threads, allocators) is not counted as data.
rng = np.random.default_rng(1)
small_y = np.repeat([0, 1], 150)
small_x = rng.normal(size=(300, 64, 64)).astype(np.float32) + small_y[:, None, None]
np.save(folder / "small.npy", small_x)
for x in (small_x, np.load(folder / "small.npy", mmap_mode="r")):
    warm = trainer.train(x, small_y, architecture="linear", hyperparameters=hp)
    trainer.predict(warm.model, x, warm.test_indices)
reset_peak()
baseline = status("VmRSS")

data = formats.open_arrays(path, "npz", folder=folder, max_in_memory_bytes=threshold)
result = trainer.train(data.x, data.y, architecture="linear", hyperparameters=hp, split=data.split)
probabilities = trainer.predict(result.model, data.x, result.test_indices)
print(json.dumps({
    "mapped": isinstance(data.x, np.memmap),
    "baseline": baseline,
    "peak": status("VmHWM"),
    "split_sizes": result.split_sizes,
    "test_accuracy": result.test_metrics.get("test_accuracy"),
    "predicted": list(probabilities.shape),
}))
"""


def write_large_npz(path: Path, *, rows: int, shape: tuple[int, ...]) -> None:
    """Two classes of noisy images, one a shade brighter, written a chunk of rows at a time,
    with a recorded split: the first 70% train, then 15% validation, 15% test."""
    rng = np.random.default_rng(0)
    y = np.arange(rows) % 2
    split = np.zeros(rows, dtype=np.int8)
    split[rows * 70 // 100 :] = 1
    split[rows * 85 // 100 :] = 2
    with formats.NpzWriter(path) as out:
        with out.stream("x", shape=(rows, *shape), dtype=np.float32) as x:
            for start in range(0, rows, 1000):
                labels = y[start : start + 1000]
                noise = rng.standard_normal((len(labels), *shape), dtype=np.float32)
                x.append(noise + labels.reshape(-1, *[1] * len(shape)).astype(np.float32))
        out.write("y", y)
        out.write("split", split)


def train_in_child(path: Path, folder: Path, threshold: int) -> dict:
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(folder), str(threshold)],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_a_dataset_several_times_a_memory_cap_trains_in_bounded_memory(tmp_path):
    """The cap is the file's size: a worker holding the features grows by more than that.

    Memory is measured as resident memory (VmRSS, and its peak VmHWM from /proc), in a child
    process, from after a warm-up to the end. An address-space limit (RLIMIT_AS) cannot stand
    in for a memory cap here: JAX and TensorFlow reserve far more virtual memory than they use.
    """
    path = tmp_path / "large.npz"
    write_large_npz(path, rows=22_000, shape=(64, 64))  # 344 MiB of float32
    size = path.stat().st_size
    try:
        streamed = train_in_child(path, tmp_path / "streamed", threshold=16 * 1024**2)
        held = train_in_child(path, tmp_path / "held", threshold=size)
    finally:  # 700 MB that no later look at the test's folder needs
        path.unlink()
        for features in tmp_path.glob("*/features-*.npy"):
            features.unlink()

    grown = streamed["peak"] - streamed["baseline"]
    held_grown = held["peak"] - held["baseline"]
    mib = {"file": size, "streamed": grown, "held": held_grown}
    print("MiB:", {name: round(value / 2**20) for name, value in mib.items()})
    assert streamed["mapped"] and not held["mapped"]
    for seen in (streamed, held):
        assert seen["split_sizes"] == {"train": 15400, "validation": 3300, "test": 3300}
        assert seen["test_accuracy"] > 0.9 and seen["predicted"] == [3300, 2]
    assert grown < size / 4
    # what the measure sees when the features are held: more than the file
    assert held_grown > size


def ingest_ready(content: bytes):
    version, _ = services.dataset_version_ingest(
        dataset_name="blobs", source=services.IngestSource.upload(io.BytesIO(content), "b.npz")
    )
    version = dataset_version_execute(version_id=version.pk)
    assert version.status == "READY", version.error
    return version


@pytest.mark.django_db
def test_a_stored_version_opens_mapped_above_the_threshold_and_in_memory_up_to_it(
    tmp_path, settings
):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 4, 2)).astype(np.float64)  # 5,760 bytes decoded
    split = np.repeat(np.array([0, 1, 2], dtype=np.int8), 30)
    version = ingest_ready(npz_bytes(x=x, y=np.arange(90) % 3, split=split))
    above, at = tmp_path / "above", tmp_path / "at"
    above.mkdir(), at.mkdir()

    settings.TRAINING_IN_MEMORY_BYTES = x.nbytes - 1
    mapped = services.dataset_version_open(version=version, folder=above)
    settings.TRAINING_IN_MEMORY_BYTES = x.nbytes
    held = services.dataset_version_open(version=version, folder=at)

    assert isinstance(mapped.x, np.memmap) and mapped.x.dtype == np.float32
    assert Path(mapped.x.filename).parent == above and not mapped.x.flags.writeable
    assert type(held.x) is np.ndarray and held.x.dtype == np.float64 and not any(at.iterdir())
    loaded = services.dataset_version_load(version=version)
    np.testing.assert_array_equal(held.x, loaded.x)
    np.testing.assert_array_equal(mapped.x, loaded.x.astype(np.float32))
    for opened in (mapped, held):
        assert np.array_equal(opened.y, loaded.y) and np.array_equal(opened.split, split)


@pytest.mark.django_db
def test_a_stored_version_that_changed_opens_nothing(tmp_path, settings, ready_version):
    settings.TRAINING_IN_MEMORY_BYTES = 0
    ready_version.sha256 = "0" * 64

    with pytest.raises(formats.DatasetFileError, match="does not match its sha256"):
        services.dataset_version_open(version=ready_version, folder=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.django_db
def test_a_file_with_bad_values_leaves_no_features_file(tmp_path, settings):
    x = np.ones((10, 3), dtype=np.float32)
    x[7, 1] = np.inf
    content = npz_bytes(x=x, y=np.arange(10) % 2)
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    folder = tmp_path / "features"
    folder.mkdir()

    with pytest.raises(formats.DatasetFileError, match="NaN or infinite"):
        formats.open_arrays(path, "npz", folder=folder, max_in_memory_bytes=0)
    assert not any(folder.iterdir())


@pytest.mark.django_db
def test_a_run_on_a_version_above_the_threshold_trains_from_disk_and_cleans_up(
    ready_version, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    settings.TRAINING_IN_MEMORY_BYTES = 0
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen = []
    train = trainer.train

    def spy(x, y, **kwargs):
        seen.append((type(x), Path(x.filename).exists()))
        return train(x, y, **kwargs)

    monkeypatch.setattr(trainer, "train", spy)
    run = experiment_services.training_run_create(
        experiment_name="large",
        dataset_version=ready_version,
        model_name="blobs-from-disk",
        hyperparameters={"epochs": 3, "batch_size": 16, "learning_rate": 0.01},
    )

    with django_capture_on_commit_callbacks(execute=True):
        run = training_run_execute(run_id=run.pk, worker="test-worker")

    assert run.status == "SUCCEEDED", run.error
    assert seen == [(np.memmap, True)]
    assert run.metrics["test_accuracy"] > 0.8
    test_rows = run.metrics["split_sizes"]["test"]
    assert test_rows > 0 and sum(map(sum, run.metrics["confusion_matrix"])) == test_rows
    assert run.model_version.signature["input_shape"] == [8]
    assert not list(tmp_path.glob("hpml-data-*"))  # the features file went with its folder
