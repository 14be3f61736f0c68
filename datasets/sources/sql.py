"""A dataset from one SELECT against a read-only PostgreSQL source, streamed into Parquet.

Two guards keep the source as it is. ``check_query`` refuses, with a message people can act on,
anything but one query that reads. The query then runs in a READ ONLY transaction, which
PostgreSQL enforces whatever the text hides (a function that writes, say). The account in
SQL_SOURCE_URL should still be granted SELECT alone: no check here can stop a function such as
``dblink`` that opens a connection of its own.

Rows travel through a server-side cursor, ``batch_rows`` at a time or fewer: a batch that comes
to more than BATCH_BYTES makes the next fetch smaller, so memory stays bounded by about one
batch of that size whatever the result. Text is allowed only in the label column, and a label
is a class name of at most MAX_LABEL_CHARS characters.

Time: ``statement_timeout`` is set before the cursor opens and again before every fetch,
because the query can change its own limit (``set_config('statement_timeout', '0', true)`` in
the select list lifts it for every later statement of the transaction). A role default
(``ALTER ROLE ingest SET statement_timeout = '5min'``) is worth setting for the SQL account
too, for connections that do not come from here, but it is only a default that any session may
change: the caller's overall time limit on the task is what bounds a query that outwits both.
"""

import math
import re
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg2
import psycopg2.extensions
import pyarrow as pa
import pyarrow.parquet as pq
import sqlparse.lexer
from psycopg2 import errors
from sqlparse import tokens as T

from datasets.formats.base import MAX_LABEL_CHARS

from . import SourceError, TransientSourceError

MAX_QUERY_CHARS = 100_000
CONNECT_TIMEOUT = 10
APPLICATION_NAME = "hpml-sql-ingest"
CURSOR_NAME = "hpml_sql_ingest"
# A batch past this many bytes (text lengths plus 8 a number, as Arrow holds them) makes the
# next fetch smaller; Python holds a few times as much while a batch is converted.
BATCH_BYTES = 64 * 1024**2

READ_STARTS = {"SELECT", "WITH", "VALUES", "TABLE"}
WRITE_WORDS = {"INSERT", "UPDATE", "DELETE", "MERGE"}
LOCKING = {"UPDATE", "SHARE", "NO", "KEY"}  # FOR UPDATE, FOR SHARE, FOR NO KEY ..., FOR KEY ...

# PostgreSQL type oids (pg_type): bool, int8, int2, int4; float4, float8, numeric.
BOOL, NUMERIC = 16, psycopg2.extensions.DECIMAL.values
INT_TYPES = {BOOL, 20, 21, 23}
FLOAT_TYPES = {700, 701, *NUMERIC}

# Errors the query itself causes, so running it again gives the same answer: syntax and
# access (42), data (22), cardinality (21), unsupported (0A), transaction state (25), function
# and routine errors (2F, 38, 39), RAISE (P0), program limits (54). The rest (a lost
# connection, a deadlock, a server out of memory) may pass.
PERMANENT_CLASSES = {"42", "22", "21", "0A", "25", "2F", "38", "39", "P0", "54"}
PERMANENT_ERRORS = (psycopg2.ProgrammingError, psycopg2.DataError, psycopg2.NotSupportedError)


def check_query(sql: str) -> str:
    """Refuse anything but one query that reads; return it without its trailing semicolon."""
    if len(sql) > MAX_QUERY_CHARS:
        raise SourceError(f"the query is longer than {MAX_QUERY_CHARS:,} characters")
    if "\x00" in sql:
        raise SourceError("the query holds a NUL character")
    statements = _statements(sql)
    if not statements:
        raise SourceError("the query is empty")
    if len(statements) > 1:
        raise SourceError(f"send one statement; this text holds {len(statements)}")
    words, end = statements[0]
    query = sql[:end].strip()
    # PostgreSQL runs every statement of the text sent, and its lexer and sqlparse's disagree
    # on a few corners (backslashes in strings, '#' comments, '$' in names). With no ';' left
    # in the text, there is nothing to disagree about: it holds one statement.
    if ";" in query:
        raise SourceError(
            "send one statement: a semicolon may only end the query, not sit inside it "
            "(in a string, write chr(59))"
        )
    _check_reads(words)
    return query


def _statements(sql: str) -> list[tuple[list[tuple[object, str]], int]]:
    """(words, end offset) of each statement that holds more than comments.

    Split on sqlparse's ';' tokens rather than with ``sqlparse.split``, which keeps
    ``BEGIN ... END`` together as one statement where PostgreSQL runs two.
    """
    statements, words, end, offset = [], [], 0, 0
    for ttype, value in sqlparse.lexer.tokenize(sql):
        offset += len(value)
        if ttype in T.Punctuation and value == ";":
            if words:
                statements.append((words, end))
            words = []
        elif not (ttype in T.Whitespace or ttype in T.Newline or ttype in T.Comment):
            words.append((ttype, value.upper()))
            end = offset
    if words:
        statements.append((words, end))
    return statements


def _check_reads(words: list[tuple[object, str]]) -> None:
    keywords = [value if ttype in T.Keyword else "" for ttype, value in words]
    first = next((w for _, w in words if w != "("), "")
    if first not in READ_STARTS:
        raise SourceError(
            f"only a query that reads can run (SELECT, WITH ... SELECT, VALUES or TABLE), "
            f"not {first or 'this'}"
        )
    for i, word in enumerate(keywords):
        if word in WRITE_WORDS:
            raise SourceError(
                f"the query must only read data, but it holds {word} "
                f'(quote a column of that name: "{word.lower()}")'
            )
        if word == "INTO":
            raise SourceError("SELECT ... INTO creates a table: only a query that reads can run")
        if word == "FOR" and i + 1 < len(words) and words[i + 1][1] in LOCKING:
            raise SourceError("SELECT ... FOR UPDATE/SHARE locks rows: leave the FOR clause out")


def query_to_parquet(
    sql: str,
    dest: Path,
    *,
    dsn: str,
    label_column: str = "label",
    statement_timeout: float = 300.0,
    max_rows: int = 10_000_000,
    batch_rows: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Run one query that reads against ``dsn`` and write its rows to ``dest``; return the count.

    The label column is kept as an integer or a string, every other column must be numeric.
    ``statement_timeout`` (seconds) bounds each statement PostgreSQL runs: opening the cursor
    and each fetch of at most ``batch_rows`` rows. On any error ``dest`` is removed.
    """
    if not dsn.strip():
        raise SourceError("SQL ingestion is off: set SQL_SOURCE_URL")
    if batch_rows < 1 or max_rows < 1:
        raise ValueError("batch_rows and max_rows must be at least 1")
    query = check_query(sql)
    timeout_ms = max(0, math.ceil(statement_timeout * 1000))  # 0: PostgreSQL's "no limit"
    conn = _connect(dsn)
    try:
        cursor = _open_cursor(conn, query, timeout_ms)
        schema = _schema(conn, cursor.description, label_column)
        limits = {"max_rows": max_rows, "batch_rows": batch_rows, "timeout_ms": timeout_ms}
        return _write(cursor, Path(dest), schema, progress=progress, **limits)
    except psycopg2.Error as exc:
        raise _query_error(exc, statement_timeout) from exc
    finally:
        with suppress(psycopg2.Error):
            conn.rollback()
        conn.close()


def _connect(dsn: str) -> "psycopg2.extensions.connection":
    # ``from None``: the chained libpq error may quote the connection string, password included.
    try:
        conn = psycopg2.connect(
            dsn, connect_timeout=CONNECT_TIMEOUT, application_name=APPLICATION_NAME
        )
    except psycopg2.OperationalError as exc:
        raise TransientSourceError(f"cannot reach the SQL source: {_redact(exc, dsn)}") from None
    except psycopg2.ProgrammingError as exc:
        raise SourceError(f"SQL_SOURCE_URL is not valid: {_redact(exc, dsn)}") from None
    # numeric arrives as float and bool as int, so each column maps to one Arrow type.
    for oids, name, cast in ((NUMERIC, "NUMERIC_FLOAT", _float), ((BOOL,), "BOOL_INT", _bool_int)):
        psycopg2.extensions.register_type(psycopg2.extensions.new_type(oids, name, cast), conn)
    conn.set_session(readonly=True)  # psycopg2 opens each transaction with BEGIN READ ONLY
    return conn


def _float(value: str | None, _cursor) -> float | None:
    return None if value is None else float(value)


def _bool_int(value: str | None, _cursor) -> int | None:
    return None if value is None else int(value == "t")


def _redact(exc: Exception, dsn: str) -> str:
    message = " ".join(str(exc).split())
    secrets = set(re.findall(r"password\s*=\s*'?([^'\s&]+)", dsn))
    with suppress(ValueError):
        if raw := urlsplit(dsn).password:
            secrets |= {raw, unquote(raw)}
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


def _set_timeout(conn, timeout_ms: int) -> None:
    with conn.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = %s", (timeout_ms,))


def _open_cursor(conn, query: str, timeout_ms: int):
    _set_timeout(conn, timeout_ms)
    cursor = conn.cursor(name=CURSOR_NAME)
    cursor.execute(query)
    # A named cursor has no description until it fetches; fetching none gives the columns
    # without running the query, so a wrong label column is reported at once.
    cursor.fetchmany(0)
    return cursor


def _schema(conn, description, label_column: str) -> pa.Schema:
    names = [column.name for column in description]
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise SourceError(
            f"the query returns more than one column named {duplicates[0]!r}: "
            "give each column its own name with AS"
        )
    if label_column not in names:
        raise SourceError(
            f"the query returns no label column {label_column!r} (columns: "
            f"{', '.join(names[:20])}); name it with AS {label_column}"
        )
    return pa.schema(
        _field(conn, column.name, column.type_code, column.name == label_column)
        for column in description
    )


def _field(conn, name: str, oid: int, is_label: bool) -> pa.Field:
    if oid in INT_TYPES:
        return pa.field(name, pa.int64())
    if oid in FLOAT_TYPES:
        return pa.field(name, pa.float64())
    if is_label:
        return pa.field(name, pa.string())
    with conn.cursor() as cursor:
        cursor.execute("SELECT format_type(%s, NULL)", (oid,))
        type_name = cursor.fetchone()[0]
    raise SourceError(f"feature columns must be numeric; {name!r} is {type_name}")


def _write(
    cursor, dest: Path, schema: pa.Schema, *, max_rows, batch_rows, timeout_ms, progress
) -> int:
    total = 0
    # A wide result starts with fewer rows: eight bytes a column is the least a row takes.
    fetch = min(batch_rows, max(1, BATCH_BYTES // (8 * len(schema))))
    try:
        with pq.ParquetWriter(dest, schema) as writer:
            while True:
                # Again before each fetch: the query may have lifted its own limit.
                _set_timeout(cursor.connection, timeout_ms)
                # One row past max_rows is enough to know the result is too large.
                rows = cursor.fetchmany(min(fetch, max_rows + 1 - total))
                if not rows:
                    break
                total += len(rows)
                if total > max_rows:
                    raise SourceError(
                        f"the query returned more than {max_rows:,} rows (SQL_MAX_ROWS)"
                    )
                batch = _batch(rows, schema)
                writer.write_batch(batch)
                fetch = _next_fetch(fetch, len(rows), batch.nbytes)
                if progress:
                    progress(total)
        if not total:
            raise SourceError("the query returned no rows")
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return total


def _next_fetch(fetch: int, rows: int, nbytes: int) -> int:
    """Rows to fetch next: fewer (at least half as many) after a batch over BATCH_BYTES."""
    if nbytes <= BATCH_BYTES:
        return fetch
    return max(1, min(fetch // 2, rows * BATCH_BYTES // nbytes))


def _batch(rows: list[tuple], schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for field, values in zip(schema, zip(*rows, strict=True), strict=True):
        if pa.types.is_string(field.type):  # the label; of another type, uuid or date, as text
            values = [None if v is None else str(v) for v in values]
            if max(map(len, filter(None, values)), default=0) > MAX_LABEL_CHARS:
                raise SourceError(
                    f"the label {field.name!r} holds values longer than {MAX_LABEL_CHARS} "
                    "characters"
                )
        arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _query_error(exc: psycopg2.Error, statement_timeout: float) -> Exception:
    message = exc.diag.message_primary or str(exc).strip().split("\n")[0]
    if isinstance(exc, errors.QueryCanceled):
        return SourceError(
            f"the query ran longer than the statement timeout of {statement_timeout:g}s"
        )
    if isinstance(exc, errors.ReadOnlySqlTransaction):
        return SourceError(f"the SQL source is read-only: {message}")
    if isinstance(exc, PERMANENT_ERRORS) or (exc.pgcode or "")[:2] in PERMANENT_CLASSES:
        return SourceError(message)
    return TransientSourceError(f"the SQL source failed: {message}")
