from celery import shared_task

from . import services


@shared_task(
    name="models_registry.tasks.mirror_alias",
    autoretry_for=(Exception,),
    max_retries=5,
    retry_backoff=True,
)
def mirror_alias(model_id: int, alias: str) -> None:
    """Copy an alias as it stands now in our registry to the MLflow registry."""
    services.model_alias_mirror(model_id=model_id, alias=alias)


@shared_task(
    name="models_registry.tasks.mirror_version",
    autoretry_for=(Exception,),
    max_retries=5,
    retry_backoff=True,
)
def mirror_version(version_id: int) -> None:
    """Register a new model version in the MLflow registry too."""
    services.model_version_mirror(version_id=version_id)
