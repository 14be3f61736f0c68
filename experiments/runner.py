"""The work of one training run on a training worker.

This module loads Keras and MLflow: only the ``train_run`` task imports it, inside the task,
so the worker's parent process (which forks) never initialises TensorFlow.
"""

import contextlib
import logging
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction

from datasets.selectors import dataset_version_feature_names, dataset_version_transforms
from datasets.services import dataset_version_open
from hpml_portal import mlflow_client, request_id
from hpml_portal.errors import ServiceError
from hpml_portal.jobs import Heartbeat
from hpml_portal.storage import StoredObject, delete_quietly, save_content_addressed, sha256_file
from models_registry.services import Artifact, model_version_register

from .models import TrainingRun
from .services import (
    finite,
    training_run_claim,
    training_run_fail,
    training_run_finish,
    training_run_report,
    training_run_set_devices,
    training_run_set_tracking,
)
from .sweeps import sweep_parent_run
from .training import evaluation, trainer

logger = logging.getLogger(__name__)

# How often a running run writes its heartbeat and looks for a cancel request.
CHECK_INTERVAL_SECONDS = 1.0


class _Progress:
    """Hooks handed to the trainer: per-epoch metrics to MLflow and the run, heartbeats."""

    def __init__(self, run: TrainingRun, tracker: mlflow_client.RunTracker):
        self.run_id, self.tracker = run.pk, tracker
        self.total_epochs = int(run.hyperparameters["epochs"])
        self.history: list[dict] = []
        self.stop, self.last_check = False, time.monotonic()
        # The latest batch (epoch, batch, batches per epoch, batch size), and since when.
        self.position: tuple[int, int, int, int] | None = None
        self.first_batch_at: float | None = None
        self.batches_seen = 0

    def batch(self, epoch: int, batch: int, per_epoch: int, batch_size: int) -> None:
        """Where training is within the epoch; written with the next heartbeat."""
        if self.first_batch_at is None:
            self.first_batch_at = time.monotonic()
        self.position = (epoch, batch, per_epoch, batch_size)
        self.batches_seen += 1

    def within_epoch(self) -> dict:
        """Batches done, samples per second and the time left, from the pace so far."""
        if self.position is None or self.first_batch_at is None:
            return {}
        epoch, batch, per_epoch, batch_size = self.position
        elapsed = time.monotonic() - self.first_batch_at
        done, total = (epoch - 1) * per_epoch + batch, self.total_epochs * per_epoch
        fields = {
            "batches_done": batch,
            "batches_per_epoch": per_epoch,
            "progress": min(done / total, 1.0) if total else 0.0,
        }
        if elapsed > 0 and self.batches_seen > 1:
            # Batches a second since the first one ended (validation included).
            pace = (self.batches_seen - 1) / elapsed
            fields["samples_per_second"] = round(pace * batch_size, 1)
            fields["eta_seconds"] = round(max(total - done, 0) / pace, 1)
        return fields

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.history.append({"epoch": epoch, **metrics})
        self.tracker.log_metrics_later(metrics, step=epoch)
        self.stop = training_run_report(
            run_id=self.run_id,
            epoch=epoch,
            total_epochs=self.total_epochs,
            history=self.history,
            **self.within_epoch(),
        )
        self.last_check = time.monotonic()

    def should_stop(self) -> bool:
        now = time.monotonic()
        if now - self.last_check >= CHECK_INTERVAL_SECONDS:
            self.last_check = now
            self.stop = training_run_report(run_id=self.run_id, **self.within_epoch())
        return self.stop


def training_run_execute(*, run_id: int, worker: str = "") -> TrainingRun | None:
    """Claim a QUEUED run, train, track in MLflow, store and register the model.

    Returns None when the run could not be claimed (cancelled, ended, or taken by another
    worker). Any error ends the run FAILED with the error and leaves no model file behind.
    """
    if not training_run_claim(run_id=run_id, worker=worker):
        logger.info("run %s was not claimed: it is not QUEUED", run_id)
        return None
    # Loading a large dataset, saving and registering the model send no per-batch beats: a
    # thread keeps the run's heartbeat going through them.
    with Heartbeat(TrainingRun, run_id, interval=CHECK_INTERVAL_SECONDS * 5):
        return _execute(run_id)


def _execute(run_id: int) -> TrainingRun:
    run = TrainingRun.objects.select_related("experiment__team", "dataset_version__dataset").get(
        pk=run_id
    )
    stored: StoredObject | None = None
    tracker: mlflow_client.RunTracker | None = None
    try:
        experiment = run.experiment
        tags = {
            "hpml.run_id": str(run.pk),
            "hpml.team": experiment.team.slug,
            "hpml.dataset": run.dataset_version.ref,
            "hpml.dataset_sha256": run.dataset_version.sha256,
            # What the MLflow UI shows as the run's source: the portal run, not "celery".
            "mlflow.source.name": f"hpml-portal run {run.pk}",
            "mlflow.source.type": "JOB",
        }
        if run.retry_of_id:
            tags["hpml.retry_of"] = str(run.retry_of_id)
        if request_id.current():  # the web request that queued the run (its X-Request-ID)
            tags["hpml.request_id"] = request_id.current()
        if run.sweep_id:  # nested under the sweep's run in the MLflow UI
            tags["hpml.sweep_id"] = str(run.sweep_id)
            tags["mlflow.parentRunId"] = sweep_parent_run(run=run)
        transforms = dataset_version_transforms(run.dataset_version)
        # Features too large for memory go to a file in this folder (removed at once if
        # loading fails), which stays until training, evaluation and model logging are done.
        with contextlib.ExitStack() as opening:
            folder = opening.enter_context(tempfile.TemporaryDirectory(prefix="hpml-data-"))
            data = dataset_version_open(version=run.dataset_version, folder=Path(folder))
            scratch = opening.pop_all()
        x, y = data.x, data.y
        with (
            scratch,
            mlflow_client.tracked_run(
                experiment=experiment.ref,
                known_experiment_id=experiment.mlflow_experiment_id,
                run_name=f"run-{run.pk}",
                tags=tags,
            ) as tracker,
        ):
            training_run_set_tracking(
                run=run, mlflow_run_id=tracker.run_id, experiment_id=tracker.experiment_id
            )
            tracker.log_dataset(
                name=run.dataset_version.ref,
                sha256=run.dataset_version.sha256,
                url=_portal_url(f"/api/v1/dataset-versions/{run.dataset_version.pk}/"),
            )
            tracker.log_params(
                {
                    "architecture": run.architecture,
                    "dataset": run.dataset_version.ref,
                    **run.hyperparameters,
                }
            )
            # Where it trains, shown while it trains (the result says it again at the end).
            backend, devices, distribution = trainer.placement(run.hyperparameters["batch_size"])
            training_run_set_devices(
                run_id=run.pk, backend=backend, devices=devices, distribution=distribution
            )
            progress = _Progress(run, tracker)
            result = trainer.train(
                x,
                y,
                architecture=run.architecture,
                hyperparameters=run.hyperparameters,
                on_epoch=progress.epoch,
                on_batch=progress.batch,
                should_stop=progress.should_stop,
                split=data.split,
                input_transforms=transforms,
            )
            metrics = _final_metrics(result)
            training_run_set_devices(
                run_id=run.pk,
                backend=result.backend,
                devices=result.devices,
                distribution=result.distribution,
            )
            if result.cancelled:
                tracker.flush()
                mlflow_client.end_run("CANCELLED")
                return training_run_finish(
                    run_id=run.pk, status=TrainingRun.Status.CANCELLED, metrics=metrics
                )
            tracker.log_metrics_later(result.test_metrics)
            metrics |= _evaluate(result, y, tracker)
            example = trainer.invert_transforms(x[:5], transforms) if transforms else x[:5]
            # MLflow's copy is written from the tracker's thread while ours is stored here.
            logged = tracker.log_model_later(result.model, example=example.astype(np.float32))
            stored = _store_model(result.model, f"{experiment.team.slug}/{run.model_name}")
            model_uri = logged.result()
            tracker.flush()  # every metric and picture is in MLflow before the run succeeds
            run = _register(run, result, stored, metrics, model_uri, tracker.run_id)
            if run.status != TrainingRun.Status.SUCCEEDED:
                mlflow_client.end_run(run.status)
            return run
    except Exception as exc:
        logger.exception("run %s failed", run_id)
        if stored is not None and stored.created:
            _remove_model(stored.name)
        if tracker is not None and tracker.left_open:
            _end_mlflow_run_later(tracker.run_id)
        return training_run_fail(run_id=run_id, error=failure_reason(exc))


def failure_reason(exc: Exception) -> str:
    """A failed run's error in one line. A service that could not be reached is named, with
    the way out: the run can be retried once it is back."""
    if mlflow_client.is_unreachable(exc):
        return f"{mlflow_client.unreachable_reason(exc)}: retry the run once it is back"
    if isinstance(exc, ServiceError):  # e.g. the storage is down: its message is for people
        return str(exc)
    text = " ".join(str(exc).split())  # some libraries' messages span lines
    return f"{type(exc).__name__}: {text}"[:2000]


def _remove_model(name: str) -> None:
    # The run fails for the error being handled; a model file left behind is only space.
    try:
        delete_quietly(name)
    except Exception:
        logger.exception("could not remove %s from storage", name)


def _end_mlflow_run_later(mlflow_run_id: str) -> None:
    """MLflow could not be told the run failed: a worker tells it once it answers again."""
    from .tasks import end_mlflow_run

    try:
        end_mlflow_run.delay(mlflow_run_id, TrainingRun.Status.FAILED)
    except Exception:  # the broker is down too: MLflow shows the run running
        logger.exception("could not queue the end of MLflow run %s", mlflow_run_id)


def _portal_url(path: str) -> str:
    base = settings.PORTAL_URL.rstrip("/")
    return f"{base}{path}" if base else path


def _final_metrics(result: trainer.TrainResult) -> dict:
    """The metrics of the epoch whose weights the model holds (the best one, after early
    stopping; else the last), the test metrics, the time taken and the split sizes."""
    kept = result.best_epoch or len(result.history)
    epoch = dict(result.history[kept - 1]) if result.history else {}
    epoch.pop("epoch", None)
    stopping = {"best_epoch": result.best_epoch, "stopped_epoch": result.stopped_epoch}
    return {
        **epoch,
        **result.test_metrics,
        **{key: value for key, value in stopping.items() if value is not None},
        "train_seconds": round(result.seconds, 3),
        "split_sizes": result.split_sizes,
    }


def _evaluate(result, y, tracker) -> dict:
    """Per-class numbers and the confusion matrix on the test split, and the pictures of them
    and of the training curves in MLflow. Nothing without a test split."""
    if len(result.history):
        tracker.later(_log_curves, tracker, result.history)
    test = result.test_indices
    if not len(test) or result.test_probabilities is None:
        return {}
    true_index = np.unique(y, return_inverse=True)[1][test]
    judged = evaluation.evaluate(true_index, result.test_probabilities, result.classes)
    tracker.log_metrics_later({"test_macro_f1": judged["macro_f1"]})
    if len(result.classes) <= evaluation.MAX_MATRIX_CLASSES:
        tracker.later(_log_confusion, tracker, judged["confusion_matrix"], result.classes)
    else:  # a picture nobody could read, and a matrix too big for a row
        judged.pop("confusion_matrix")
    return judged


# Drawn and sent from the tracker's background thread, while the model is saved and uploaded.
# A picture that cannot be drawn is not worth failing a run that trained: it is logged.
def _log_curves(tracker, history: list[dict]) -> None:
    try:
        tracker.log_png("training_curves.png", evaluation.curves_png(history))
    except ValueError:
        logger.exception("could not draw the training curves")


def _log_confusion(tracker, matrix: list, classes: list) -> None:
    try:
        tracker.log_png("confusion_matrix.png", evaluation.confusion_png(matrix, classes))
    except ValueError:
        logger.exception("could not draw the confusion matrix")


def _store_model(model, folder: str) -> StoredObject:
    with tempfile.TemporaryDirectory(prefix="hpml-model-") as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return save_content_addressed(
            path, sha256=sha256_file(path), prefix=f"models/{folder}", suffix=".keras"
        )


def _register(run, result, stored, metrics, model_uri, mlflow_run_id) -> TrainingRun:
    """Register the stored model and end the run SUCCEEDED, in one transaction; unless the run
    was cancelled (or closed by the reaper) meanwhile: then nothing is registered.

    A run that registers only by choice (a sweep's) keeps what registering needs instead."""
    metrics = finite(metrics)  # a diverged run's NaN loss is stored as null
    signature = {
        "input_shape": result.input_shape,
        "input_dtype": "float32",
        "classes": result.classes,
        # What the registry checks against the classes before it takes the version.
        "outputs": int(result.model.output_shape[-1]),
    }
    names = dataset_version_feature_names(run.dataset_version)
    if names and len(names) == math.prod(result.input_shape):  # table formats check these
        signature["feature_names"] = names
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if locked.is_terminal or locked.cancel_requested:
            if stored.created:
                delete_quietly(stored.name)
            return training_run_finish(
                run_id=run.pk, status=TrainingRun.Status.CANCELLED, metrics=metrics
            )
        if not run.register:
            artifact = {
                "name": stored.name,
                "sha256": stored.sha256,
                "size_bytes": stored.size,
                "signature": signature,
                "mlflow_model_uri": model_uri,
            }
            return training_run_finish(
                run_id=run.pk,
                status=TrainingRun.Status.SUCCEEDED,
                metrics=metrics,
                artifact=artifact,
            )
        model_version_register(
            model_name=run.model_name,
            team=run.experiment.team,
            artifact=Artifact(name=stored.name, sha256=stored.sha256, size_bytes=stored.size),
            signature=signature,
            metrics=metrics,
            architecture=run.architecture,
            run=locked,
            dataset_version=run.dataset_version,
            mlflow_run_id=mlflow_run_id,
            mlflow_model_uri=model_uri,
            user=run.created_by,
        )
        return training_run_finish(
            run_id=run.pk, status=TrainingRun.Status.SUCCEEDED, metrics=metrics
        )
