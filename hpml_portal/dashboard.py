"""What the portal's front page shows, for one person: their teams' runs in progress and
recent failures, each model's `production` and `staging` versions with their live numbers,
their datasets, and whether the workers are there. Read in a fixed number of queries, whatever
the number of rows; the page polls it as JSON every few seconds."""

import contextlib
from datetime import timedelta

from django.core.cache import cache
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.access import Capability

from . import queues

SHOWN = 20  # rows per section
FAILURES_SINCE = timedelta(days=1)
HEALTH_SECONDS = 15  # how long the workers' and queues' state is kept (one check for everyone)
HEALTH_KEY = "hpml:dashboard:health"


def dashboard(user) -> dict:
    return {
        "runs": _runs_in_progress(user),
        "failures": _recent_failures(user),
        "models": _models(user),
        "datasets": _datasets(user),
        "health": health(),
        "at": timezone.now().isoformat(timespec="seconds"),
    }


def _runs_in_progress(user) -> list[dict]:
    from experiments.models import TrainingRun
    from experiments.selectors import training_run_list

    runs = training_run_list(user=user, capability=Capability.READ).filter(
        status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]
    )
    return [_run(run) for run in runs.order_by("-created_at")[:SHOWN]]


def _run(run) -> dict:
    return {
        "id": run.pk,
        "name": str(run),
        "status": run.status,
        "progress": round(run.progress or 0.0, 4),
        "epoch": run.current_epoch,
        "epochs": run.hyperparameters.get("epochs"),
        "eta_seconds": run.eta_seconds,
        "url": f"/admin/experiments/trainingrun/{run.pk}/change/",
    }


def _recent_failures(user) -> list[dict]:
    from experiments.models import TrainingRun
    from experiments.selectors import training_run_list

    failed = training_run_list(user=user, capability=Capability.READ).filter(
        status=TrainingRun.Status.FAILED, finished_at__gte=timezone.now() - FAILURES_SINCE
    )
    return [
        {**_run(run), "error": _first_line(run.error)}
        for run in failed.order_by("-finished_at")[:SHOWN]
    ]


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0][:300] if lines else ""


def _models(user) -> list[dict]:
    from models_registry.selectors import registered_model_list

    models = list(registered_model_list(user=user, capability=Capability.READ)[:SHOWN])
    requests = _requests_last_hour(models)
    accuracy = _accuracy_last_day(models)
    shown = []
    for model in models:
        aliases = {a.alias: a.version for a in model.aliases.all()}
        entry = {"name": model.name, "team": model.team.slug}
        for alias in ("production", "staging"):
            version = aliases.get(alias)
            entry[alias] = None if version is None else version.version
        production = aliases.get("production")
        entry["accuracy"] = accuracy.get(production.pk) if production else None
        entry["requests_last_hour"] = requests.get((model.team_id, model.name), 0)
        entry["url"] = f"/admin/models_registry/registeredmodel/{model.pk}/change/"
        shown.append(entry)
    return shown


def _requests_last_hour(models) -> dict[tuple, int]:
    from inference.models import ServingCount

    if not models:
        return {}
    rows = (
        ServingCount.objects.filter(
            minute__gte=timezone.now() - timedelta(hours=1),
            team_key__in={m.team_id for m in models},
            model_name__in={m.name for m in models},
        )
        .values("team_key", "model_name")
        .annotate(n=Sum("requests"))
    )
    return {(row["team_key"], row["model_name"]): row["n"] for row in rows}


def _accuracy_last_day(models) -> dict[int, float]:
    from inference.selectors import feedback_accuracy

    versions = [a.version_id for m in models for a in m.aliases.all() if a.alias == "production"]
    return feedback_accuracy(versions, since=timezone.now() - timedelta(days=1))


def _datasets(user) -> dict:
    from datasets.selectors import dataset_list, dataset_version_list

    stored = dataset_version_list(user=user, capability=Capability.READ).aggregate(
        versions=Count("id"), bytes=Sum("size_bytes", default=0)
    )
    count = dataset_list(user=user, capability=Capability.READ).values("id").count()
    return {"datasets": count, **stored}


def health() -> dict:
    """The broker, the workers that answered a ping, the queues' depths and the queues
    whose oldest job has waited over QUEUE_STALL_SECONDS (``stalled``: queue -> seconds),
    checked at most once per HEALTH_SECONDS for every web process (kept in the cache). /readyz
    and /metrics read the same."""
    try:
        found = cache.get(HEALTH_KEY)
    except Exception:
        found = None
    if found is None:
        found = _check_health()
        with contextlib.suppress(Exception):  # the cache is down: checked again next time
            cache.set(HEALTH_KEY, found, HEALTH_SECONDS)
    return found


def _check_health() -> dict:
    from .celery import app

    stalled = queues.stalled(queues.oldest_waiting())
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            depths = {q: _depth(connection.default_channel, q) for q in queues.QUEUES}
    except Exception as exc:
        broker = f"unreachable: {type(exc).__name__}"
        return {"broker": broker, "workers": [], "queues": {}, "stalled": stalled}
    try:
        answered = app.control.inspect(timeout=1.0).ping() or {}
    except Exception:  # the broker went away between the two: no worker seen this time
        answered = {}
    return {"broker": "ok", "workers": sorted(answered), "queues": depths, "stalled": stalled}


def _depth(channel, queue: str) -> int:
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count
    except Exception:  # never declared: no worker consumed it and nothing was sent yet
        return 0
