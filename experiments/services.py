"""Every write to experiments and training runs (the run's own work is in ``runner.py``)."""

import logging
import math

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from accounts import access
from accounts.access import Capability
from accounts.models import Team
from accounts.selectors import team_default
from datasets.models import DatasetVersion
from hpml_portal.errors import Conflict, InvalidRequest
from hpml_portal.jobs import (
    broker_failure,
    job_beat,
    job_claim,
    job_finish,
    job_flag,
    job_reaped,
    job_send,
)
from hpml_portal.validation import check_name

from .models import Experiment, TrainingRun
from .selectors import sweep_list
from .training.hyperparameters import (
    HyperparameterError,
    check_input_shape,
    resolve_hyperparameters,
)

logger = logging.getLogger(__name__)


class TrainingError(InvalidRequest):
    """A training request that cannot be carried out; the message says why."""


class RunEnded(TrainingError, Conflict):
    """The run has already ended (HTTP 409)."""

    http_status = 409


class RunNotRetryable(TrainingError, Conflict):
    """Only runs that failed or were cancelled are run again (HTTP 409)."""

    http_status = 409


class RunNotRegistrable(TrainingError, Conflict):
    """Only a run that succeeded holds a model to register (HTTP 409)."""

    http_status = 409


class RunLimitReached(Conflict):
    """The team has as many queued and running runs as TEAM_MAX_ACTIVE_RUNS allows (409)."""


def _check_slug(kind: str, name: str) -> None:
    check_name(kind, name, TrainingError)


def experiment_get_or_create(
    *, name: str, team: Team | None = None, user=None, description: str = ""
) -> Experiment:
    """``team``'s experiment called ``name`` (the default team when None), made on first use."""
    team = team or team_default()
    access.require(user, team, Capability.WRITE, "create experiments")
    _check_slug("experiment", name)
    experiment, _ = Experiment.objects.get_or_create(
        team=team, name=name, defaults={"created_by": user, "description": description}
    )
    return experiment


def experiment_save(
    *, name: str, team: Team | None = None, description: str = "", user=None
) -> Experiment:
    """Create an experiment, or update the description of the one with this name."""
    experiment = experiment_get_or_create(name=name, team=team, user=user, description=description)
    if experiment.description != description:
        experiment.description = description
        experiment.save(update_fields=["description"])
    return experiment


def training_run_create(
    *,
    experiment_name: str,
    dataset_version: DatasetVersion,
    model_name: str,
    architecture: str = "mlp",
    hyperparameters: dict | None = None,
    team: Team | None = None,
    user=None,
    retry_of: TrainingRun | None = None,
) -> TrainingRun:
    """Check the request, create a QUEUED run and queue it for a training worker after commit.

    The run, its experiment (made on first use) and the model it registers into all belong to
    the dataset's team (``team``, when given, must be that one), where ``user`` must be allowed
    to train. Nothing at all is created when the dataset version is not READY, the
    architecture is unknown or cannot take the data, a hyperparameter is unknown, not a number
    or out of range, or the team already has TEAM_MAX_ACTIVE_RUNS queued and running runs.
    """
    owner = check_run_request(
        dataset_version=dataset_version,
        experiment_name=experiment_name,
        model_name=model_name,
        architecture=architecture,
        team=team,
        user=user,
        doing="train",
    )
    try:
        resolved = resolve_hyperparameters(architecture, hyperparameters)
    except HyperparameterError as exc:
        raise TrainingError(str(exc)) from exc
    with transaction.atomic():
        check_run_limit(owner)
        experiment, _ = Experiment.objects.get_or_create(
            team=owner, name=experiment_name, defaults={"created_by": user}
        )
        run = TrainingRun.objects.create(
            experiment=experiment,
            dataset_version=dataset_version,
            architecture=architecture,
            hyperparameters=resolved,
            model_name=model_name,
            created_by=user,
            retry_of=retry_of,
            # A sweep's run retried stays in its sweep, and registers only by choice too.
            sweep=retry_of.sweep if retry_of else None,
        )
        transaction.on_commit(lambda: enqueue_run(run))
    return run


def check_run_request(
    *, dataset_version, experiment_name, model_name, architecture, team, user, doing
) -> Team:
    """What a run and a sweep both need; returns the dataset's team, which owns them."""
    owner = dataset_version.dataset.team
    access.require(user, owner, Capability.WRITE, doing)
    if team is not None and team.pk != owner.pk:
        raise TrainingError(
            f"dataset version {dataset_version.ref} belongs to team {owner.slug!r}, the "
            f"experiment to team {team.slug!r}: train in the dataset's team"
        )
    _check_slug("experiment", experiment_name)
    _check_slug("model", model_name)
    if dataset_version.status != DatasetVersion.Status.READY:
        raise TrainingError(
            f"dataset version {dataset_version.ref} is {dataset_version.status}, not READY: "
            "only READY versions can be trained on"
        )
    try:
        check_input_shape(architecture, dataset_version.schema.get("feature_shape", []))
    except HyperparameterError as exc:
        raise TrainingError(str(exc)) from exc
    if dataset_version.schema.get("num_classes", 0) < 2:
        raise TrainingError(f"dataset version {dataset_version.ref} has fewer than 2 classes")
    return owner


def training_run_retry(*, run: TrainingRun, user=None) -> TrainingRun:
    """A new QUEUED run with the inputs of a FAILED or CANCELLED one, linked to it. The same
    checks as any new run apply (the dataset version must still be READY, the team's limit)."""
    access.require(user, run.experiment.team, Capability.WRITE, "retry runs")
    if run.status not in (TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED):
        raise RunNotRetryable(
            f"run {run.pk} is {run.status}: only FAILED or CANCELLED runs are retried"
        )
    if run.sweep_id and sweep_list(user=None).get(pk=run.sweep_id).status in TrainingRun.TERMINAL:
        raise RunNotRetryable(
            f"run {run.pk} belongs to sweep {run.sweep_id}, which has ended: start a new sweep, "
            "or train this point as a run of its own"
        )
    pending = run.retries.exclude(status__in=TrainingRun.TERMINAL).first()
    if pending is not None:  # a second click, or another person's
        raise RunNotRetryable(f"run {run.pk} is already being retried by run {pending.pk}")
    return training_run_create(
        experiment_name=run.experiment.name,
        dataset_version=run.dataset_version,
        model_name=run.model_name,
        architecture=run.architecture,
        hyperparameters=run.hyperparameters,
        team=run.experiment.team,
        user=user,
        retry_of=run,
    )


def check_run_limit(team: Team, adding: int = 1) -> None:
    """Refuse ``adding`` runs past the team's limit; the team row is locked so that two
    requests at the limit cannot both get through."""
    limit = settings.TEAM_MAX_ACTIVE_RUNS
    if not limit:
        return
    Team.objects.select_for_update().filter(pk=team.pk).first()
    active = TrainingRun.objects.filter(
        experiment__team=team, status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]
    ).count()
    if active + adding > limit:
        asked = "a run" if adding == 1 else f"{adding} runs"
        raise RunLimitReached(
            f"team {team.slug!r} has {active} queued or running training runs, and its limit "
            f"is {limit} (TEAM_MAX_ACTIVE_RUNS={limit}): {asked} more would pass it; wait for "
            "some to end, or cancel some"
        )


def training_run_register(*, run: TrainingRun, user=None):
    """Register the model a SUCCEEDED run stored as the next version of its model, once:
    ``(version, created)``, where ``created`` is False when the run was registered already.
    """
    from models_registry.services import Artifact, model_version_register

    access.require(user, run.experiment.team, Capability.WRITE, "register models")
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
        existing = getattr(locked, "model_version", None)
        if existing is not None:
            return existing, False
        if locked.status != TrainingRun.Status.SUCCEEDED:
            raise RunNotRegistrable(
                f"run {run.pk} is {locked.status}: only a run that succeeded holds a model "
                "to register"
            )
        if not locked.artifact:
            raise RunNotRegistrable(f"run {run.pk} kept no model to register")
        stored = locked.artifact
        version = model_version_register(
            model_name=locked.model_name,
            team=run.experiment.team,
            artifact=Artifact(
                name=stored["name"], sha256=stored["sha256"], size_bytes=stored["size_bytes"]
            ),
            signature=stored["signature"],
            metrics=locked.metrics,
            architecture=locked.architecture,
            run=locked,
            dataset_version=locked.dataset_version,
            mlflow_run_id=locked.mlflow_run_id,
            mlflow_model_uri=stored.get("mlflow_model_uri", ""),
            user=user,
        )
    return version, True


def stop_run(run_id: int) -> bool:
    """A queued run ends CANCELLED, a running one is flagged for its worker; False when it had
    ended. Both are conditional UPDATEs, so a worker claiming the run meanwhile is not missed."""
    return job_finish(
        TrainingRun,
        run_id,
        TrainingRun.Status.CANCELLED,
        only_from=[TrainingRun.WAITING],
        cancel_requested=True,
    ) or job_flag(TrainingRun, run_id, cancel_requested=True)


def enqueue_run(run: TrainingRun) -> None:
    try:
        job_send(TrainingRun, run.pk)
    except Exception as exc:  # the broker is down: say so on the run, do not leave it QUEUED
        logger.warning("could not queue %s: %s", run, exc)
        training_run_fail(
            run_id=run.pk,
            error=f"could not queue the run: {broker_failure(exc)}; retry it once it is back",
        )


def training_run_claim(*, run_id: int, worker: str = "") -> bool:
    """QUEUED -> RUNNING in one conditional UPDATE; False when another process got there
    first, or the run was cancelled or already ended (a redelivered task is a no-op)."""
    return job_claim(TrainingRun, run_id, worker=worker) is not None


def training_run_report(
    *,
    run_id: int,
    epoch: int | None = None,
    total_epochs: int = 0,
    history: list | None = None,
    **within_epoch,
) -> bool:
    """Record a heartbeat (and the epoch reached, or ``within_epoch`` progress: progress,
    batches_done, batches_per_epoch, samples_per_second, eta_seconds) of a RUNNING run.

    Returns True when the run should stop: cancellation was asked for, or it is no longer
    RUNNING (the reaper closed it).
    """
    fields: dict = dict(within_epoch)
    if epoch is not None:
        fields["current_epoch"] = epoch
        fields["progress"] = min(epoch / total_epochs, 1.0) if total_epochs else 0.0
    if history is not None:
        fields["history"] = finite(history)
    if not job_beat(TrainingRun, run_id, **fields):
        return True
    return TrainingRun.objects.filter(pk=run_id, cancel_requested=True).exists()


def training_run_finish(
    *,
    run_id: int,
    status: str,
    error: str = "",
    metrics: dict | None = None,
    artifact: dict | None = None,
) -> TrainingRun:
    """End a run in a terminal status, with its metrics and, for a run that registers by
    choice, the stored model it would register (``artifact``). A run that has already ended
    is left as it is."""
    fields: dict = {} if metrics is None else {"metrics": finite(metrics)}
    if artifact is not None:
        fields["artifact"] = artifact
    fields["eta_seconds"] = None  # nothing left to wait for
    if status == TrainingRun.Status.SUCCEEDED:
        fields["progress"] = 1.0
    job_finish(TrainingRun, run_id, status, error=error, **fields)
    return TrainingRun.objects.get(pk=run_id)


def finite(value):
    """``value`` with NaN and infinite numbers as None: a diverging run's loss is NaN, which
    JSON (and PostgreSQL's jsonb) cannot hold."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value


def training_run_fail(*, run_id: int, error: str) -> TrainingRun:
    return training_run_finish(run_id=run_id, status=TrainingRun.Status.FAILED, error=error)


def training_run_cancel(*, run: TrainingRun, user=None) -> TrainingRun:
    """Cancel a run: a QUEUED one ends CANCELLED now (it will never be claimed); a RUNNING
    one is flagged and stops at its next batch boundary. An ended run cannot be cancelled."""
    access.require(user, run.experiment.team, Capability.WRITE, "cancel runs")
    if run.is_terminal:
        raise RunEnded(f"run {run.pk} has already ended ({run.status})")
    changed = stop_run(run.pk)
    run.refresh_from_db()
    if not changed:  # it ended between the caller's read and now
        raise RunEnded(f"run {run.pk} has already ended ({run.status})")
    if run.sweep_id and run.is_terminal:  # it may have been the sweep's last
        from .sweeps import settle_later

        transaction.on_commit(lambda: settle_later(run.sweep_id))
    return run


def training_run_set_devices(
    *, run_id: int, backend: str, devices: list[str], distribution: str
) -> None:
    """Record what a run trained on: the Keras backend, its devices and how it spread."""
    TrainingRun.objects.filter(pk=run_id).update(
        backend=backend[:32], devices=devices, distribution=distribution[:64]
    )


def training_run_set_tracking(*, run: TrainingRun, mlflow_run_id: str, experiment_id: str) -> None:
    """Record where MLflow tracks a run (and its experiment, the first time)."""
    TrainingRun.objects.filter(pk=run.pk).update(mlflow_run_id=mlflow_run_id)
    Experiment.objects.filter(pk=run.experiment_id, mlflow_experiment_id="").update(
        mlflow_experiment_id=experiment_id
    )


@receiver(job_reaped, sender=TrainingRun)
def _end_reaped_mlflow_runs(sender, pks: list[int], **kwargs) -> None:
    """MLflow still shows a reaped run as running: end it there too, from a worker."""
    from .tasks import end_mlflow_run

    for mlflow_run_id in (
        TrainingRun.objects.filter(pk__in=pks)
        .exclude(mlflow_run_id="")
        .values_list("mlflow_run_id", flat=True)
    ):
        try:
            end_mlflow_run.delay(mlflow_run_id, TrainingRun.Status.FAILED)
        except Exception:  # the run is closed here; MLflow shows it running until asked again
            logger.exception("could not queue the end of MLflow run %s", mlflow_run_id)
