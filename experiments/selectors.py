"""Reads of experiments and training runs."""

from django.db.models import Count, QuerySet

from .models import Experiment, TrainingRun


def experiment_list() -> QuerySet[Experiment]:
    return Experiment.objects.annotate(run_count=Count("runs")).order_by("name")


def training_run_list() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related(
        "experiment", "dataset_version__dataset", "model_version__model", "created_by"
    )
