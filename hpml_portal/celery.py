"""The Celery app, configured from Django settings (the CELERY_ namespace)."""

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hpml_portal.settings")

app = Celery("hpml_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **kwargs) -> None:
    # The filesystem transport expects its folders to exist in every process that uses it.
    if str(sender.conf.broker_url).startswith("filesystem://"):
        for key, folder in sender.conf.broker_transport_options.items():
            if "folder" in key:
                Path(folder).mkdir(parents=True, exist_ok=True)
