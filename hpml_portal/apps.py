from django.apps import AppConfig


class HpmlPortalConfig(AppConfig):
    name = "hpml_portal"
    verbose_name = "High Peaks ML Platform"
