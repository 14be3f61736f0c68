"""Liveness and readiness probes; no authentication, no heavy imports."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from inference import warmup

from . import queues
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


def _workers_and_queues(errors: dict) -> dict:
    """How many workers answer and which queues are stalled. A web process is ready without
    workers, so neither makes /readyz fail. Read from the dashboard's check (shared by every
    process, at most HEALTH_SECONDS old, pings wait 1 s at most); parts already found down
    are not asked again."""
    from .dashboard import health

    if "database" in errors:
        return {"workers": "unknown", "queues": "unknown"}
    try:
        found = health() if "broker" not in errors else {}
        stalled = found.get("stalled")
        if stalled is None:  # the broker is down (or an older process's check was kept)
            stalled = queues.stalled(queues.oldest_waiting())
    except Exception:
        return {"workers": "unknown", "queues": "unknown"}
    seen = len(found.get("workers", []))
    workers = (
        (f"{seen} seen" if seen else "none seen") if found.get("broker") == "ok" else "unknown"
    )
    return {"workers": workers, "queues": queues.describe(stalled)}


@require_GET
def readyz(request):
    """The database, the object storage and the broker can all be reached. Everyone learns
    the status and which parts fail; staff and loopback callers also learn why. The workers
    seen and the queues' state are told too, without changing the status."""
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
    checks.update(_workers_and_queues(errors))
    if _may_see_detail(request):
        checks.update({name: f"error: {detail}" for name, detail in errors.items()})
        failed = warmup.failures()
        if failed:  # e.g. a stored file that fails its sha256
            checks["models_failed"] = failed
    ready = not errors and models_ready
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
