"""Log lines that name their request: a filter that adds ``request_id`` (and, in a Celery
task, ``task_id`` and ``task_name``) to every record, and the formatter of ``LOG_FORMAT=json``,
which writes each record as one JSON object on one line, for log shippers to parse.

Both are plain ``logging`` classes, named by the settings' LOGGING: the web processes, the
commands and the Celery workers (``hpml_portal/celery.py``) log through them alike.
"""

import json
import logging
from datetime import UTC, datetime

from . import request_id


class ContextFilter(logging.Filter):
    """Adds the request and task this code runs for to each record (None outside them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.current()
        task = request_id.current_task()
        record.task_id, record.task_name = task if task is not None else (None, None)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message, request_id;
    task_id and task_name inside a task; the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            # A record that did not pass through ContextFilter (a handler set up elsewhere)
            # still reads the context itself.
            "request_id": getattr(record, "request_id", request_id.current()),
        }
        task_id = getattr(record, "task_id", None)
        if task_id:
            entry["task_id"], entry["task_name"] = task_id, getattr(record, "task_name", None)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a message's arguments are formatted already; this only guards oddities.
        return json.dumps(entry, ensure_ascii=False, default=str)


def _utc(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
