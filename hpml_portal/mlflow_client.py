"""The one module that talks to MLflow.

Import it inside the functions that need it (tasks, not views): MLflow is heavy, and web
processes and ``manage.py check`` should not load it. Names and values sent to MLflow come
from our own database rows (slugs, numbers), never from a user's path or URI.

Importing it points this process's MLflow at the settings' tracking and registry store: left
alone, MLflow falls back to a ``mlflow.db`` and ``./mlruns`` in whatever folder the process
started in.
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import mlflow
from django.conf import settings
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

logger = logging.getLogger(__name__)

TERMINAL = {"SUCCEEDED": "FINISHED", "FAILED": "FAILED", "CANCELLED": "KILLED"}


def configure() -> None:
    """Point MLflow at the settings' store, for every MLflow call this process makes."""
    mlflow.set_tracking_uri(settings.MLFLOW_TRACKING_URI)
    mlflow.set_registry_uri(settings.MLFLOW_TRACKING_URI)
    if settings.MLFLOW_ARTIFACT_ROOT.startswith("s3://"):
        # MLflow's S3 artifact store reads its endpoint and keys from the environment, which
        # may not hold them (keys from *_FILE secrets): hand it the storage settings.
        for name, value in (
            ("MLFLOW_S3_ENDPOINT_URL", settings.AWS_S3_ENDPOINT_URL),
            ("AWS_ACCESS_KEY_ID", settings.AWS_ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", settings.AWS_SECRET_ACCESS_KEY),
            ("AWS_DEFAULT_REGION", settings.AWS_S3_REGION_NAME),
        ):
            if value:
                os.environ.setdefault(name, value)


configure()


def _client() -> MlflowClient:
    return MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the tracking server could not be reached: no connection, a
    timeout, or its 5xx answers once MLflow's own retries (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``)
    ran out."""
    return _network_error(exc) is not None


def unreachable_reason(exc: BaseException) -> str:
    """One line on why the tracking server was not reached, without its address (the log has
    the whole error)."""
    kind = type(_network_error(exc) or exc).__name__
    return f"the MLflow tracking server cannot be reached ({kind})"


def _network_error(exc: BaseException) -> BaseException | None:
    # MLflow raises its own exception inside the handler of the network error, so the
    # network error is in the chain (as its context).
    import requests

    seen, hops = exc, 0
    while seen is not None and hops < 10:
        if isinstance(seen, requests.exceptions.RequestException):
            return seen
        seen, hops = seen.__cause__ or seen.__context__, hops + 1
    return None


def experiment_id(name: str) -> str:
    """The MLflow experiment named ``name``, created on first use."""
    client = _client()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    root = settings.MLFLOW_ARTIFACT_ROOT
    location = f"{root.rstrip('/')}/{name}" if root else None
    return client.create_experiment(name, artifact_location=location)


class RunTracker:
    """One MLflow run, opened by :func:`tracked_run`.

    What the training loop logs while it trains (per-epoch metrics, pictures, the model) goes
    through ``later``: one background thread sends it, in order, with MLflow's client API (the
    fluent API's active run belongs to the training thread), so training never waits on the
    tracking store; metrics go in batches at most once a second. ``flush`` sends what waits
    and raises the first error.
    """

    # Metrics logged within this many seconds of the last send wait to go with the next one.
    METRICS_INTERVAL = 1.0
    # MLflow takes at most this many metrics in one log_batch call.
    MAX_BATCH = 1000

    def __init__(self, run_id: str, experiment_id: str):
        self.run_id, self.experiment_id = run_id, experiment_id
        # True when the run failed and MLflow could not be told: it shows the run running.
        self.left_open = False
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpml-mlflow")
        self._sent: list[Future] = []
        self._pending: list[Metric] = []
        self._lock = threading.Lock()
        self._scheduled = False
        self._last_send = float("-inf")
        self._hurry = threading.Event()

    def later(self, work: Callable, *args) -> None:
        # An error already back from the store stops the run now, not after the training.
        for future in self._sent:
            if future.done() and future.exception() is not None:
                self.flush()
        self._sent.append(self._sender.submit(work, *args))

    def flush(self) -> None:
        self._hurry.set()  # metrics waiting for their interval go now
        sent, self._sent = self._sent, []
        for future in sent:
            future.result()

    def close(self) -> None:
        self._sender.shutdown(wait=True)
        for future in self._sent:  # the run failed anyway: say what else went wrong
            if future.exception() is not None:
                logger.warning("MLflow logging also failed: %s", future.exception())
        self._sent = []

    def log_metrics_later(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Send ``metrics`` from the background thread in ``log_batch`` calls: at once when
        none went in the last ``METRICS_INTERVAL`` seconds, else with the metrics logged until
        then (short epochs would otherwise spend their time in the tracking store)."""
        stamp = int(time.time() * 1000)
        with self._lock:
            self._pending += [Metric(k, float(v), stamp, step) for k, v in metrics.items()]
            if self._scheduled:
                return
            self._scheduled = True
        self.later(self._send_metrics)

    def _send_metrics(self) -> None:
        wait = self._last_send + self.METRICS_INTERVAL - time.monotonic()
        if wait > 0:
            self._hurry.wait(wait)
        with self._lock:
            batch, self._pending, self._scheduled = self._pending, [], False
        self._last_send = time.monotonic()
        client = _client()
        for start in range(0, len(batch), self.MAX_BATCH):
            client.log_batch(self.run_id, metrics=batch[start : start + self.MAX_BATCH])

    def log_params(self, params: Mapping[str, object]) -> None:
        mlflow.log_params({k: str(v) for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_dataset(self, *, name: str, sha256: str, url: str) -> None:
        """Name the dataset version the run trained on (the UI's Dataset column), by its
        content digest and where the portal shows it; the data itself stays in the portal."""
        from mlflow.data.http_dataset_source import HTTPDatasetSource
        from mlflow.data.meta_dataset import MetaDataset

        dataset = MetaDataset(HTTPDatasetSource(url), name=name, digest=sha256[:20])
        mlflow.log_input(dataset, context="training")

    def log_png(self, name: str, data: bytes) -> None:
        """Store a picture (training curves, a confusion matrix) among the run's artifacts;
        safe from any thread."""
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="hpml-artifact-") as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            _client().log_artifact(self.run_id, str(path), artifact_path="plots")

    def log_model_later(self, model, *, example) -> Future:
        """Log a Keras model in this run from the background thread; the future gives its
        model URI (registration comes later). The model must not change meanwhile."""
        import numpy as np
        from mlflow.models import infer_signature

        # The signature needs the model called once: here, on the thread that trained it.
        signature = infer_signature(example, np.asarray(model(example, training=False)))
        self._hurry.set()  # training is over: metrics waiting for their interval go now
        future = self._sender.submit(self._log_model, model, signature)
        self._sent.append(future)
        return future

    def _log_model(self, model, signature) -> str:
        import keras
        import mlflow.keras
        from mlflow.models import Model

        info = Model.log(
            artifact_path=None,
            name="model",
            flavor=mlflow.keras,
            model=model,
            run_id=self.run_id,  # this thread has no active run of its own
            signature=signature,
            # Listing requirements here spares MLflow a slow import-and-inspect subprocess.
            pip_requirements=[f"keras=={keras.__version__}", f"mlflow=={mlflow.__version__}"],
        )
        return info.model_uri


@contextmanager
def tracked_run(
    *, experiment: str, known_experiment_id: str = "", run_name: str, tags: Mapping[str, str]
) -> Iterator[RunTracker]:
    """Open an MLflow run in the experiment ``known_experiment_id``, else the one named
    ``experiment`` (made on first use); it ends FAILED if the block raises."""
    run = mlflow.start_run(
        experiment_id=known_experiment_id or experiment_id(experiment),
        run_name=run_name,
        tags=tags,
    )
    tracker = RunTracker(run.info.run_id, run.info.experiment_id)
    try:
        yield tracker
        tracker.flush()
    except BaseException:
        tracker.close()
        try:
            mlflow.end_run(status="FAILED")
        except Exception:  # the block's error is the one to raise; the run stays open there
            logger.warning("could not end MLflow run %s", tracker.run_id, exc_info=True)
            tracker.left_open = True
        raise
    tracker.close()
    if mlflow.active_run() is not None:
        mlflow.end_run(status="FINISHED")


def create_parent_run(
    *,
    experiment: str,
    known_experiment_id: str = "",
    run_name: str,
    tags: Mapping[str, str],
    params: Mapping[str, object],
) -> str:
    """Create a run that others nest under (a sweep's), left open; return its id."""
    client = _client()
    run = client.create_run(
        known_experiment_id or experiment_id(experiment), run_name=run_name, tags=dict(tags)
    )
    client.log_batch(
        run.info.run_id,
        params=[Param(key, str(value)[:6000]) for key, value in params.items()],
    )
    return run.info.run_id


def delete_run(run_id: str) -> None:
    """Delete a run made by mistake (a second parent run for the same sweep)."""
    _client().delete_run(run_id)


def close_parent_run(
    run_id: str, status: str, *, metrics: Mapping[str, float], tags: Mapping[str, str]
) -> None:
    """Record a parent run's outcome and end it with our terminal ``status``."""
    client = _client()
    stamp = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(key, float(value), stamp, 0) for key, value in metrics.items()],
        tags=[RunTag(key, value) for key, value in tags.items()],
    )
    client.set_terminated(run_id, status=TERMINAL[status])


def end_run(status: str) -> None:
    """End the active run with the MLflow status matching one of our terminal statuses."""
    mlflow.end_run(status=TERMINAL[status])


def terminate_run(run_id: str, status: str) -> None:
    """End a run from outside it (its worker is gone), with our terminal ``status``."""
    _client().set_terminated(run_id, status=TERMINAL[status])


def register_model(model_uri: str, name: str) -> str:
    """Register a logged model as the next version of ``name``; return the version."""
    return str(mlflow.register_model(model_uri, name).version)


def set_alias(model_name: str, alias: str, version: str | None) -> None:
    """Point an MLflow registry alias at ``version``, or delete it when ``version`` is None."""
    client = _client()
    if version is None:
        try:
            client.delete_registered_model_alias(model_name, alias)
        except mlflow.exceptions.MlflowException:
            logger.info("MLflow alias %s@%s was not set", model_name, alias)
        return
    client.set_registered_model_alias(model_name, alias, version)
