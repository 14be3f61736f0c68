"""Small pieces shared by the apps' admin pages."""

from django.urls import reverse
from django.utils.html import format_html


def admin_link(obj, label: str | None = None) -> str:
    """A link to an object's admin page ('-' for None)."""
    if obj is None:
        return "-"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


def status_badge(status: str) -> str:
    colours = {
        "READY": "#2e7d32",
        "SUCCEEDED": "#2e7d32",
        "FAILED": "#c62828",
        "CANCELLED": "#6d4c41",
        "RUNNING": "#1565c0",
        "INGESTING": "#1565c0",
        "QUEUED": "#757575",
        "PENDING": "#757575",
    }
    return format_html(
        '<span style="color:#fff;background:{};padding:1px 6px;border-radius:3px">{}</span>',
        colours.get(status, "#757575"),
        status,
    )


def milliseconds(value: float | None) -> str:
    """A duration for reading: 0.42 ms, 12.3 ms, 1,234 ms; '-' for none."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f} ms"
    if value < 100:
        return f"{value:.1f} ms"
    return f"{value:,.0f} ms"
