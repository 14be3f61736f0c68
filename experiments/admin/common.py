"""What the experiments app's admin pages share."""

from django.conf import settings
from django.utils.html import format_html

from hpml_portal.admin_utils import admin_link


def report_registered(model_admin, request, version, created: bool) -> None:
    """Say which model version a run's registration made (or found)."""
    said = "registered as" if created else "was already"
    label = f"{version.model.name} version {version.version}"
    model_admin.message_user(
        request, format_html("Run {} {} {}.", version.run_id, said, admin_link(version, label))
    )


def number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def mlflow_link(experiment, mlflow_run_id: str):
    if not mlflow_run_id:
        return "-"
    if not settings.MLFLOW_UI_URL:  # no UI to send people to: the id, to look it up
        return mlflow_run_id
    url = (
        f"{settings.MLFLOW_UI_URL.rstrip('/')}/#/experiments/"
        f"{experiment.mlflow_experiment_id}/runs/{mlflow_run_id}"
    )
    return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, mlflow_run_id)


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
