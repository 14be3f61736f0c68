from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Teams and access"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (login auditing)
        from .api import schema  # noqa: F401  (authentication in the OpenAPI schema)
