import django_filters

from accounts.api.filters import TeamNameFilter
from hpml_portal.api.filters import IdFilter

from ..models import Dataset, DatasetVersion


class DatasetFilter(TeamNameFilter):
    class Meta:
        model = Dataset
        fields = ["team", "name"]


class DatasetVersionFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="dataset__team__slug")
    dataset = IdFilter(field_name="dataset_id")
    dataset_name = django_filters.CharFilter(field_name="dataset__name")
    status = django_filters.ChoiceFilter(choices=DatasetVersion.Status.choices)
    # Not "format": DRF's ?format= picks the response's renderer.
    file_format = django_filters.ChoiceFilter(
        field_name="format", choices=DatasetVersion.Format.choices
    )
    sha256 = django_filters.CharFilter()

    class Meta:
        model = DatasetVersion
        fields = ["team", "dataset", "dataset_name", "status", "file_format", "sha256"]
