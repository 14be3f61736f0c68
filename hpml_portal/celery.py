"""The Celery app, configured from Django settings (the CELERY_ namespace)."""

import logging
import logging.config
import os
from pathlib import Path

from celery import Celery, signals

from . import request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hpml_portal.settings")

app = Celery("hpml_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A task enqueued for a web request carries the request's id; the worker holds it (and the
# task's id and name) for the task's log lines, and for the tasks and MLflow runs it starts.
signals.before_task_publish.connect(request_id.on_task_publish, weak=False)
signals.task_prerun.connect(request_id.on_task_prerun, weak=False)
signals.task_postrun.connect(request_id.on_task_postrun, weak=False)


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **kwargs) -> None:
    # The filesystem transport expects its folders to exist in every process that uses it.
    if str(sender.conf.broker_url).startswith("filesystem://"):
        for key, folder in sender.conf.broker_transport_options.items():
            if "folder" in key:
                Path(folder).mkdir(parents=True, exist_ok=True)


@signals.setup_logging.connect(weak=False)
def _log_as_the_settings_say(loglevel: int | None = None, **kwargs) -> None:
    """Workers and beat log through the settings' LOGGING, as the web processes do (the same
    LOG_FORMAT, request and task ids), instead of the handlers and formats Celery would set
    up; a receiver here tells Celery to leave logging alone. ``--loglevel`` still sets the
    level of what reaches the log."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)
