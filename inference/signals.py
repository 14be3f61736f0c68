"""Changes that the serving caches may hold an older answer to: a token, a user, a role, a
team, a model, a version or an alias saved or deleted in this process expires them at once
(other processes see it within SERVE_CACHE_SECONDS)."""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save

from accounts.models import ApiToken, Membership, Team
from hpml_portal.ttl_cache import expire_soon
from models_registry.models import ModelAlias, ModelVersion, RegisteredModel

WATCHED = (ApiToken, Membership, Team, RegisteredModel, ModelVersion, ModelAlias)


def connect() -> None:
    for model in (*WATCHED, get_user_model()):
        for signal in (post_save, post_delete):
            signal.connect(expire_soon, sender=model, dispatch_uid=f"hpml-serving-{model.__name__}")
