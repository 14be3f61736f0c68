import django_filters

from ..models import AuditEvent


class TeamNameFilter(django_filters.FilterSet):
    """Filters of what a team owns by name: ``?team=SLUG&name=NAME``."""

    team = django_filters.CharFilter(field_name="team__slug")
    name = django_filters.CharFilter()


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=AuditEvent.Action.choices)
    actor = django_filters.CharFilter(field_name="actor_name")
    team = django_filters.CharFilter(field_name="team__slug")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "team", "since", "until"]
