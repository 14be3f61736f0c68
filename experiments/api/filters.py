import django_filters

from accounts.api.filters import TeamNameFilter
from hpml_portal.api.filters import IdFilter

from ..models import Experiment, Sweep, TrainingRun


class ExperimentFilter(TeamNameFilter):
    class Meta:
        model = Experiment
        fields = ["team", "name"]


class TrainingRunFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="experiment__team__slug")
    experiment = IdFilter(field_name="experiment_id")
    experiment_name = django_filters.CharFilter(field_name="experiment__name")
    dataset_version = IdFilter(field_name="dataset_version_id")
    status = django_filters.ChoiceFilter(choices=TrainingRun.Status.choices)
    architecture = django_filters.CharFilter()
    model_name = django_filters.CharFilter()

    class Meta:
        model = TrainingRun
        fields = [
            "team",
            "experiment",
            "experiment_name",
            "dataset_version",
            "status",
            "architecture",
            "model_name",
        ]


class SweepFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="experiment__team__slug")
    experiment = IdFilter(field_name="experiment_id")
    dataset_version = IdFilter(field_name="dataset_version_id")
    status = django_filters.ChoiceFilter(choices=TrainingRun.Status.choices)
    model_name = django_filters.CharFilter()

    class Meta:
        model = Sweep
        fields = ["team", "experiment", "dataset_version", "status", "model_name"]
