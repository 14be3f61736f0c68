"""Reads of experiments and training runs, scoped to what the caller's teams hold."""

from collections.abc import Iterable

from django.db.models import Case, Count, F, Max, Prefetch, Q, QuerySet, Value, When

from accounts import access
from accounts.access import Capability
from accounts.selectors import one_by_name

from .models import Experiment, Sweep, TrainingRun
from .training.sweep_space import METRICS


def experiment_list(
    *, user, capability: Capability | None = Capability.READ
) -> QuerySet[Experiment]:
    experiments = (
        Experiment.objects.select_related("team")
        .annotate(run_count=Count("runs"))
        .order_by("team__slug", "name")
    )
    return access.scope(experiments, user, "team", capability)


def experiment_get(*, user, name: str, team: str | None = None) -> Experiment:
    return one_by_name(experiment_list(user=user), name=name, team=team, kind="experiment")


def training_run_list(
    *, user, capability: Capability | None = Capability.READ
) -> QuerySet[TrainingRun]:
    runs = TrainingRun.objects.select_related(
        "experiment__team", "dataset_version__dataset", "model_version__model", "created_by"
    )
    return access.scope(runs, user, TrainingRun.TEAM_PATH, capability)


def _sweep_status() -> Case:
    """A sweep's status, from its runs: QUEUED until one starts, RUNNING until all have ended,
    then CANCELLED when it was cancelled, SUCCEEDED when some run succeeded, else FAILED (or
    CANCELLED when every run was cancelled on its own)."""
    status = TrainingRun.Status
    ended = Q(runs_done=F("runs_total"))
    return Case(
        When(ended & Q(cancel_requested=True), then=Value(status.CANCELLED)),
        When(ended & Q(runs_succeeded__gt=0), then=Value(status.SUCCEEDED)),
        When(ended & Q(runs_failed__gt=0), then=Value(status.FAILED)),
        When(ended, then=Value(status.CANCELLED)),
        When(Q(runs_running__gt=0) | Q(runs_done__gt=0), then=Value(status.RUNNING)),
        default=Value(status.QUEUED),
    )


def sweep_list(*, user, capability: Capability | None = Capability.READ) -> QuerySet[Sweep]:
    """Sweeps with ``status``, ``runs_total``, ``runs_done`` and ``finished_at`` computed from
    their runs."""
    status = TrainingRun.Status

    def runs(*statuses) -> Count:
        return Count("runs", filter=Q(runs__status__in=statuses))

    sweeps = (
        Sweep.objects.select_related("experiment__team", "dataset_version__dataset", "created_by")
        .annotate(
            runs_total=Count("runs"),
            runs_done=runs(*TrainingRun.TERMINAL),
            runs_running=runs(status.RUNNING),
            runs_succeeded=runs(status.SUCCEEDED),
            runs_failed=runs(status.FAILED),
            last_finished_at=Max("runs__finished_at"),
        )
        .annotate(status=_sweep_status())
        .order_by("-created_at", "-pk")
        .prefetch_related(
            Prefetch(
                "runs",
                queryset=TrainingRun.objects.select_related("model_version__model").order_by("pk"),
            )
        )
    )
    return access.scope(sweeps, user, Sweep.TEAM_PATH, capability)


def sweep_ranked_runs(
    *, sweep: Sweep, runs: Iterable[TrainingRun] | None = None
) -> list[TrainingRun]:
    """The sweep's runs (``runs``, else those ``sweep_list`` prefetched), best first by its
    metric: the SUCCEEDED runs that have a value of it (ties: the earlier run), then the rest
    by id."""
    if runs is None:
        runs = sweep.runs.all()
    sign = -1 if METRICS.get(sweep.metric) == "max" else 1

    def key(run: TrainingRun):
        value = _metric_value(run, sweep.metric)
        return (1, 0.0, run.pk) if value is None else (0, sign * value, run.pk)

    return sorted(runs, key=key)


def sweep_best_run(
    *, sweep: Sweep, runs: Iterable[TrainingRun] | None = None
) -> TrainingRun | None:
    """The sweep's SUCCEEDED run with the best value of its metric (ties: the earlier run);
    None while no run has one. ``runs`` as in ``sweep_ranked_runs``."""
    ranked = sweep_ranked_runs(sweep=sweep, runs=runs)
    if ranked and _metric_value(ranked[0], sweep.metric) is not None:
        return ranked[0]
    return None


def _metric_value(run: TrainingRun, metric: str) -> float | None:
    """A SUCCEEDED run's value of ``metric``; None for other runs and missing values."""
    value = run.metrics.get(metric) if run.status == TrainingRun.Status.SUCCEEDED else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)
