"""Reads of the prediction log, scoped to what the caller's teams hold."""

from django.db.models import QuerySet

from accounts import access
from accounts.access import Capability

from .models import PredictionLog


def prediction_log_list(
    *, user, capability: Capability | None = Capability.READ
) -> QuerySet[PredictionLog]:
    logs = PredictionLog.objects.select_related("model_version__model__team", "user")
    return access.scope(logs, user, PredictionLog.TEAM_PATH, capability)
