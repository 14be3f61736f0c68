from datetime import timedelta

from celery import shared_task

from . import services

RETRIES = 5


@shared_task(
    bind=True,
    name="models_registry.tasks.mirror_alias",
    autoretry_for=(Exception,),
    max_retries=RETRIES,
    retry_backoff=True,
)
def mirror_alias(self, model_id: int, alias: str) -> None:
    """Copy an alias as it stands now in our registry to the MLflow registry."""
    try:
        services.model_alias_mirror(model_id=model_id, alias=alias)
    except Exception as exc:  # recorded on the alias, then retried (autoretry_for)
        services.mirror_failed(
            alias=(model_id, alias), error=_reason(exc), final=self.request.retries >= RETRIES
        )
        raise


@shared_task(
    bind=True,
    name="models_registry.tasks.mirror_version",
    autoretry_for=(Exception,),
    max_retries=RETRIES,
    retry_backoff=True,
)
def mirror_version(self, version_id: int) -> None:
    """Register a new model version in the MLflow registry too."""
    try:
        services.model_version_mirror(version_id=version_id)
    except Exception as exc:  # recorded on the version, then retried (autoretry_for)
        services.mirror_failed(
            version_id=version_id, error=_reason(exc), final=self.request.retries >= RETRIES
        )
        raise


@shared_task(name="models_registry.tasks.mirror_catch_up")
def mirror_catch_up() -> None:
    """Queue again the mirrors whose message was lost or whose retries ran out (beat)."""
    services.mirror_catch_up(older_than=timedelta(minutes=5))


def _reason(exc: Exception) -> str:
    from hpml_portal import mlflow_client

    if mlflow_client.is_unreachable(exc):
        return mlflow_client.unreachable_reason(exc)
    return " ".join(f"{type(exc).__name__}: {exc}".split())
