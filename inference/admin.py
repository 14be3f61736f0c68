from django.contrib import admin

from accounts.admin_scoping import TeamListFilter, TeamScopedAdmin
from hpml_portal.admin_utils import milliseconds

from . import selectors
from .models import PredictionLog, ServingCount


@admin.register(PredictionLog)
class PredictionLogAdmin(TeamScopedAdmin):
    selector = staticmethod(selectors.prediction_log_list)
    read_only = True
    list_display = [
        "created_at",
        "model_name",
        "requested",
        "model_version",
        "outcome",
        "instances",
        "latency",
        "user",
    ]
    list_filter = ["outcome", TeamListFilter, "model_name"]
    search_fields = ["model_name", "error"]
    list_select_related = ["model_version__model", "user"]
    date_hierarchy = "created_at"

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj):
        return milliseconds(obj.latency_ms)


@admin.register(ServingCount)
class ServingCountAdmin(TeamScopedAdmin):
    """Every request to the scoring URLs, per minute, version and answer status."""

    selector = staticmethod(selectors.serving_count_list)
    read_only = True
    list_display = [
        "minute",
        "team",
        "model_name",
        "version",
        "status",
        "requests",
        "instances",
        "logs_dropped",
    ]
    list_filter = ["status", "model_name"]
    search_fields = ["model_name"]
    date_hierarchy = "minute"

    def team_id_of(self, obj) -> int:
        return obj.team_key  # 0 (no model found) is no team's: staff superusers only

    @admin.display(description="team", ordering="team_slug")
    def team(self, obj):
        return obj.team_slug or "-"
