from django.contrib import admin

from hpml_portal.admin_utils import ReadOnlyAdmin

from .models import PredictionLog


@admin.register(PredictionLog)
class PredictionLogAdmin(ReadOnlyAdmin):
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
    list_filter = ["outcome", "model_name"]
    search_fields = ["model_name", "error"]
    list_select_related = ["model_version__model", "user"]
    date_hierarchy = "created_at"
