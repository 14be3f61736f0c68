"""The prediction log and the request counts, written off the request path.

A request hands its log row and its count to this process's writer and goes on: a thread
writes the rows in bulk and adds the counts to their minute's ``ServingCount`` rows every
PREDICTION_LOG_FLUSH_SECONDS. The buffer holds PREDICTION_LOG_BUFFER rows: a row that finds it
full is dropped, never waited for, and counted as dropped. A logged request's id is known when
it answers: ids are taken from the table's sequence in blocks ahead of the rows.

On an embedded SQLite database, or with PREDICTION_LOG_BACKGROUND off, rows and counts are
written by the request itself, as they come.
"""

import atexit
import json
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hpml_portal import instruments

from .models import PredictionLog, ServingCount

logger = logging.getLogger(__name__)

ID_BLOCK = 256


@dataclass
class Served:
    """What the counts need to know of one scoring request, filled in as it is answered."""

    model_name: str
    team_key: int = 0
    version: int = 0
    instances: int = 0
    log_dropped: bool = False
    started: float = field(default_factory=time.perf_counter)  # for this process's latency


def _minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def _count_key(served: Served, status: int) -> tuple:
    return (_minute(), served.team_key, served.model_name[:100], served.version, status)


class Writer:
    def __init__(self):
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._rows: list[tuple] = []  # each row's column values, JSON already encoded
        self._counts: Counter = Counter()
        self._ids: list[int] = []
        self._wake = threading.Event()
        self._pid = self._thread = None
        self._stop = threading.Event()
        self.dropped = self.written = 0

    def background(self) -> bool:
        return settings.PREDICTION_LOG_BACKGROUND and connection.vendor == "postgresql"

    def log(self, row: PredictionLog) -> bool:
        """Keep ``row`` for writing (its ``pk`` set); False when it was dropped."""
        if not self.background():
            row.save(force_insert=True)
            return True
        with self._lock:
            if len(self._rows) >= settings.PREDICTION_LOG_BUFFER:
                self.dropped += 1
                return False
            if not self._ids:
                self._ids = _reserve_ids(ID_BLOCK)
            row.pk, row.created_at = self._ids.pop(), timezone.now()
            self._rows.append(_values(row))
        self._start()
        return True

    def count(self, served: Served, status: int) -> None:
        instruments.prediction_answered(served, status)  # this process's own /metrics
        key = _count_key(served, status)
        values = (1, served.instances, int(served.log_dropped))
        if not self.background():
            add_counts({key: values})
            return
        with self._lock:
            for index, value in enumerate(values):
                self._counts[(*key, index)] += value
        self._start()

    def _start(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():  # first use in this process (a forked worker too)
                self._pid, self._stop = os.getpid(), threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(self._stop,), name="hpml-prediction-log", daemon=True
                )
                self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self._wake.wait(settings.PREDICTION_LOG_FLUSH_SECONDS)
                self._wake.clear()
                try:
                    self.flush()
                except Exception:  # never let the writer die: the next flush tries again
                    logger.exception("writing the prediction log failed")
        finally:
            connection.close()

    def stop(self, timeout: float = 10) -> None:
        """Write what is waiting and end the writer's thread, closing its database connection
        (the next row starts it again)."""
        with self._lock:
            thread, stop, self._thread, self._pid = self._thread, self._stop, None, None
        if thread is not None:
            stop.set()
            self._wake.set()
            thread.join(timeout)
        self.flush()

    def flush(self) -> None:
        """Write what is waiting, from the calling thread; once a flush under way on another
        thread has written what it took (so feedback finds rows handed over before it)."""
        with self._writing:
            with self._lock:
                rows, self._rows = self._rows, []
                counts, self._counts = self._counts, Counter()
            if rows:
                self._write_rows(rows)
            if counts:
                self._write_counts(counts)

    def pending(self) -> int:
        return len(self._rows)

    def _write_rows(self, rows: list[tuple]) -> None:
        try:
            _insert(rows)
        except Exception:
            logger.exception("%d prediction log rows could not be written: dropped", len(rows))
            self.dropped += len(rows)
        else:
            self.written += len(rows)

    def _write_counts(self, counts: Counter) -> None:
        merged: dict[tuple, list[int]] = {}
        for (*key, index), value in counts.items():
            merged.setdefault(tuple(key), [0, 0, 0])[index] = value
        try:
            add_counts(merged)
        except Exception:
            logger.exception("request counts could not be written: kept for the next try")
            with self._lock:
                self._counts.update(counts)
            raise

    def stats(self) -> dict:
        return {"pending": self.pending(), "written": self.written, "dropped": self.dropped}


_COLUMNS = (
    "id",
    "model_version_id",
    "model_name",
    "requested",
    "outcome",
    "instances",
    "latency_ms",
    "inputs_sample",
    "predictions_sample",
    "predictions",
    "error",
    "user_id",
    "created_at",
)
_JSON_COLUMNS = {"inputs_sample", "predictions_sample", "predictions"}


def _values(row: PredictionLog) -> tuple:
    """The row's column values, encoded by the request that made it: the writer's thread then
    only sends them (encoding hundreds of rows at once there held the process's requests)."""
    return tuple(
        json.dumps(getattr(row, column)) if column in _JSON_COLUMNS else getattr(row, column)
        for column in _COLUMNS
    )


def _insert(rows: list[tuple]) -> None:
    """One INSERT of many rows: the ORM's bulk_create prepares each field of each row in
    Python, which held the web process for tens of milliseconds per flush."""
    from psycopg2.extras import execute_values

    table = PredictionLog._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:  # all rows or none
        execute_values(
            cursor.cursor,
            f"INSERT INTO {table} ({', '.join(_COLUMNS)}) VALUES %s",
            rows,
            page_size=1000,
        )


def _reserve_ids(count: int) -> list[int]:
    """``count`` fresh ids of the log's table, largest first (taken with ``pop()``)."""
    table = PredictionLog._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return sorted((row[0] for row in cursor.fetchall()), reverse=True)


def add_counts(counts: dict[tuple, tuple | list]) -> None:
    """Add to the minute rows, made when missing (one statement, safe between processes)."""
    table = ServingCount._meta.db_table
    keys = "minute, team_key, model_name, version, status"
    placeholders, params = [], []
    for (minute, *rest), values in counts.items():
        placeholders.append("(%s, %s, %s, %s, %s, %s, %s, %s)")
        params += [connection.ops.adapt_datetimefield_value(minute), *rest, *values]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({keys}, requests, instances, logs_dropped) "
            f"VALUES {', '.join(placeholders)} ON CONFLICT ({keys}) DO UPDATE SET "
            f"requests = {table}.requests + excluded.requests, "
            f"instances = {table}.instances + excluded.instances, "
            f"logs_dropped = {table}.logs_dropped + excluded.logs_dropped",
            params,
        )


writer = Writer()


def _flush_at_exit() -> None:
    try:
        writer.stop()
    except Exception:
        logger.exception("the prediction log could not be written at exit")


atexit.register(_flush_at_exit)
