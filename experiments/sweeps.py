"""Every write to sweeps: create, cancel, register the best run, and the MLflow parent run that
the sweep's runs nest under (made by the first run to start, ended once the last has ended).

MLflow is imported only inside the functions that call it (workers), like everywhere else.
"""

import logging
import secrets

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from accounts import access
from accounts.access import Capability
from accounts.models import Team
from datasets.models import DatasetVersion
from hpml_portal.errors import Conflict
from hpml_portal.jobs import job_reaped

from .models import Experiment, Sweep, TrainingRun
from .selectors import sweep_best_run, sweep_list
from .services import (
    TrainingError,
    check_run_limit,
    check_run_request,
    enqueue_run,
    stop_run,
    training_run_register,
)
from .training import sweep_space
from .training.hyperparameters import HyperparameterError

logger = logging.getLogger(__name__)


class SweepEnded(TrainingError, Conflict):
    """Every run of the sweep has already ended (HTTP 409)."""

    http_status = 409


class NoBestRun(TrainingError, Conflict):
    """No run of the sweep has succeeded with its metric yet (HTTP 409)."""

    http_status = 409


def sweep_create(
    *,
    experiment_name: str,
    dataset_version: DatasetVersion,
    model_name: str,
    space: object,
    architecture: str = "mlp",
    random: object = None,
    seed: object = None,
    metric: str = sweep_space.DEFAULT_METRIC,
    team: Team | None = None,
    user=None,
) -> Sweep:
    """Check a hyperparameter search, create the sweep and its QUEUED runs in one transaction
    and queue the runs after commit.

    The runs are those of ``sweep_space.expand``: the whole grid of ``space``, or ``random``
    distinct points of it drawn with ``seed`` (drawn here when None, and recorded). They do
    not register models: ``sweep_register_best`` registers the best one. Nothing is created
    when any check fails: those of a single run, a bad space or metric, a sweep larger than
    SWEEP_MAX_RUNS, or more runs than the team's limit leaves room for.
    """
    owner = check_run_request(
        dataset_version=dataset_version,
        experiment_name=experiment_name,
        model_name=model_name,
        architecture=architecture,
        team=team,
        user=user,
        doing="run sweeps",
    )
    if random is not None:
        seed = _check_seed(seed)
    elif seed is not None:
        raise TrainingError("seed draws the random points: give it with random, not alone")
    # A recorded split decides whether runs have a validation split, whatever they ask for.
    recorded = dataset_version.schema.get("split_sizes")
    try:
        expanded = sweep_space.expand(
            architecture,
            space,
            random=random,
            seed=seed or 0,
            max_runs=settings.SWEEP_MAX_RUNS,
            metric=metric,
            has_validation=None if recorded is None else recorded.get("validation", 0) > 0,
        )
    except HyperparameterError as exc:
        raise TrainingError(str(exc)) from exc
    with transaction.atomic():
        check_run_limit(owner, adding=len(expanded.runs))
        experiment, _ = Experiment.objects.get_or_create(
            team=owner, name=experiment_name, defaults={"created_by": user}
        )
        sweep = Sweep.objects.create(
            experiment=experiment,
            dataset_version=dataset_version,
            architecture=architecture,
            model_name=model_name,
            space=space,
            random=random,
            seed=seed,
            metric=metric,
            created_by=user,
        )
        runs = TrainingRun.objects.bulk_create(
            TrainingRun(
                experiment=experiment,
                dataset_version=dataset_version,
                architecture=architecture,
                hyperparameters=hyperparameters,
                model_name=model_name,
                sweep=sweep,
                created_by=user,
            )
            for hyperparameters in expanded.runs
        )
        transaction.on_commit(lambda: [enqueue_run(run) for run in runs])
    return sweep


def _check_seed(seed: object) -> int:
    if seed is None:
        return secrets.randbelow(2**31)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise TrainingError(f"seed must be a whole number from 0 to 2147483647, got {seed!r}")
    return seed


def sweep_cancel(*, sweep: Sweep, user=None) -> int:
    """Cancel a sweep: its queued runs end CANCELLED now, its running ones stop at their next
    batch, and the sweep ends CANCELLED once they have. Returns how many runs were asked to
    stop. A sweep whose runs have all ended cannot be cancelled, and is left as it is."""
    access.require(user, sweep.experiment.team, Capability.WRITE, "cancel sweeps")
    with transaction.atomic():
        Sweep.objects.filter(pk=sweep.pk).update(cancel_requested=True)
        active = sweep.runs.exclude(status__in=TrainingRun.TERMINAL)
        stopping = sum(stop_run(run_id) for run_id in active.values_list("pk", flat=True))
        if not stopping:  # raised inside the transaction: the flag is not kept either
            raise SweepEnded(f"sweep {sweep.pk} has already ended: none of its runs is left")
        transaction.on_commit(lambda: settle_later(sweep.pk))
    return stopping


def sweep_register_best(*, sweep: Sweep, user=None):
    """Register the model of the sweep's best run (``training_run_register``): ``(version,
    created)``."""
    access.require(user, sweep.experiment.team, Capability.WRITE, "register models")
    best = sweep_best_run(sweep=sweep, runs=sweep.runs.order_by("pk"))  # as they are now
    if best is None:
        raise NoBestRun(
            f"no run of sweep {sweep.pk} has succeeded with {sweep.metric} yet: nothing to register"
        )
    return training_run_register(run=best, user=user)


def sweep_parent_run(*, run: TrainingRun) -> str:
    """The MLflow run that ``run``'s sweep nests its runs under, made by the first of them to
    start. Made without holding a lock (MLflow may be slow): of two runs starting together,
    the one whose run is recorded second ends its own and uses the first."""
    from hpml_portal import mlflow_client

    sweep = Sweep.objects.select_related("experiment__team").get(pk=run.sweep_id)
    if sweep.mlflow_run_id:
        return sweep.mlflow_run_id
    experiment, version = sweep.experiment, run.dataset_version
    made = mlflow_client.create_parent_run(
        experiment=experiment.ref,
        known_experiment_id=experiment.mlflow_experiment_id,
        run_name=f"sweep-{sweep.pk}",
        tags={
            "hpml.sweep_id": str(sweep.pk),
            "hpml.team": experiment.team.slug,
            "hpml.dataset": version.ref,
            "hpml.dataset_sha256": version.sha256,
            "mlflow.source.name": f"hpml-portal sweep {sweep.pk}",
            "mlflow.source.type": "JOB",
        },
        params={
            "architecture": sweep.architecture,
            "dataset": version.ref,
            "metric": sweep.metric,
            "random": sweep.random if sweep.random is not None else "grid",
            "seed": sweep.seed if sweep.seed is not None else "-",
            **{f"space.{name}": values for name, values in sweep.space.items()},
        },
    )
    if Sweep.objects.filter(pk=sweep.pk, mlflow_run_id="").update(mlflow_run_id=made):
        return made
    mlflow_client.delete_run(made)  # another run of the sweep made one first
    return Sweep.objects.values_list("mlflow_run_id", flat=True).get(pk=sweep.pk)


def sweep_settle(*, sweep_id: int) -> bool:
    """Once every run of a sweep has ended, record its best run on its MLflow parent run and
    end that run with the sweep's status, once: the sweep is claimed first, so two workers
    ending its last runs together do it once. Returns whether this call did it."""
    sweep = sweep_list(user=None).filter(pk=sweep_id).first()
    if sweep is None or sweep.mlflow_closed or sweep.status not in TrainingRun.TERMINAL:
        return False
    if not Sweep.objects.filter(pk=sweep_id, mlflow_closed=False).update(mlflow_closed=True):
        return False  # another process is settling it
    if not sweep.mlflow_run_id:  # no run ever started: nothing in MLflow to end
        return True
    from hpml_portal import mlflow_client

    best = sweep_best_run(sweep=sweep, runs=sweep.runs.order_by("pk"))
    metrics = {"runs": sweep.runs_total, "runs_succeeded": sweep.runs_succeeded}
    tags = {}
    if best is not None:
        metrics[f"best_{sweep.metric}"] = best.metrics[sweep.metric]
        tags = {"hpml.best_run_id": str(best.pk), "hpml.best_mlflow_run_id": best.mlflow_run_id}
    try:
        mlflow_client.close_parent_run(
            sweep.mlflow_run_id, sweep.status, metrics=metrics, tags=tags
        )
    except Exception:  # not settled after all: the caller tries again
        Sweep.objects.filter(pk=sweep_id).update(mlflow_closed=False)
        raise
    return True


def settle_later(sweep_id: int) -> None:
    """Queue ``sweep_settle`` for a worker (which loads MLflow)."""
    from .tasks import settle_sweep

    try:
        settle_sweep.delay(sweep_id)
    except Exception:  # its last run's worker, the reaper or the next cancel settles it
        logger.exception("could not queue the settling of sweep %s", sweep_id)


@receiver(job_reaped, sender=TrainingRun)
def _settle_reaped_sweeps(sender, pks: list[int], **kwargs) -> None:
    """A reaped run may have been its sweep's last."""
    reaped = TrainingRun.objects.filter(pk__in=pks, sweep__isnull=False)
    for sweep_id in reaped.values_list("sweep_id", flat=True).distinct():
        settle_later(sweep_id)
