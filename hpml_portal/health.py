"""Liveness and readiness probes; no authentication, no heavy imports."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from inference import warmup

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


LOOPBACK = {"127.0.0.1", "::1"}


def _may_see_detail(request) -> bool:
    """Errors name hosts, ports and buckets: only staff and callers on this machine see them."""
    if request.META.get("REMOTE_ADDR") in LOOPBACK:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


@require_GET
def readyz(request):
    """The database, the object storage and the broker can all be reached. Everyone learns
    the status and which parts fail; staff and loopback callers also learn why."""
    checks, errors = {}, {}
    for name, check in (("database", _database), ("storage", check_storage), ("broker", _broker)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = "error"
            errors[name] = f"{type(exc).__name__}: {exc}"[:300]
    models_ready, models = warmup.readiness()
    checks["models"] = models
    if _may_see_detail(request):
        checks.update({name: f"error: {detail}" for name, detail in errors.items()})
        failed = warmup.failures()
        if failed:  # e.g. a stored file that fails its sha256
            checks["models_failed"] = failed
    ready = not errors and models_ready
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
