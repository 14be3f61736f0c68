import django_filters

from accounts.api.filters import TeamNameFilter
from hpml_portal.api.filters import IdFilter

from ..models import AliasEvent, ModelVersion, RegisteredModel


class RegisteredModelFilter(TeamNameFilter):
    class Meta:
        model = RegisteredModel
        fields = ["team", "name"]


class ModelVersionFilter(django_filters.FilterSet):
    architecture = django_filters.CharFilter()
    alias = django_filters.CharFilter(field_name="aliases__alias")
    dataset_version = IdFilter(field_name="dataset_version_id")

    class Meta:
        model = ModelVersion
        fields = ["architecture", "alias", "dataset_version"]


class AliasEventFilter(django_filters.FilterSet):
    alias = django_filters.CharFilter()
    user = django_filters.CharFilter(field_name="user__username")

    class Meta:
        model = AliasEvent
        fields = ["alias", "user"]
