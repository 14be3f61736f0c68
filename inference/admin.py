from django.contrib import admin

from accounts.admin_scoping import TeamListFilter, TeamScopedAdmin

from . import selectors
from .models import PredictionLog


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
        "latency_ms",
        "user",
    ]
    list_filter = ["outcome", TeamListFilter, "model_name"]
    search_fields = ["model_name", "error"]
    list_select_related = ["model_version__model", "user"]
    date_hierarchy = "created_at"
