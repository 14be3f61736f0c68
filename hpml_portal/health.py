"""Liveness and readiness probes; no authentication, no heavy imports."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from .storage import check_storage


@require_GET
def healthz(request):
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:
    from .celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@require_GET
def readyz(request):
    """The database, the object storage and the broker can all be reached."""
    checks = {}
    for name, check in (("database", _database), ("storage", check_storage), ("broker", _broker)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}: {exc}"[:300]
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
