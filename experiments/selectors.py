"""Reads of experiments and training runs, scoped to what the caller's teams hold."""

from django.db.models import Count, QuerySet

from accounts import access
from accounts.access import Capability
from accounts.selectors import one_by_name

from .models import Experiment, TrainingRun


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
