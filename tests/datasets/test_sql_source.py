"""The SQL source against a real PostgreSQL database made for this module and dropped after it."""

import os
import socket
import time
import uuid

import psycopg2
import pyarrow.parquet as pq
import pytest

from datasets.sources import SourceError, TransientSourceError
from datasets.sources.sql import check_query, query_to_parquet

ROWS = 500
SERVER = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x").rsplit("/", 1)[0]
GOOD = "SELECT f_int, f_float, f_real, f_numeric, f_bool, f_null, label FROM samples"

SETUP = f"""
CREATE TABLE samples AS
SELECT i AS id, i AS f_int, i / 10.0::float8 AS f_float, (i % 7)::real AS f_real,
       (i / 4.0)::numeric(10, 2) AS f_numeric, i % 2 = 0 AS f_bool,
       CASE WHEN i = 3 THEN NULL ELSE i::float8 END AS f_null,
       i % 3 AS label, 'class-' || (i % 3) AS label_text, 'row ' || i AS name
FROM generate_series(1, {ROWS}) AS i;
CREATE SEQUENCE tickets;
CREATE TABLE audit (at timestamptz);
CREATE FUNCTION audited() RETURNS int LANGUAGE sql AS 'INSERT INTO audit VALUES (now()); SELECT 1';
"""


def _admin(dsn: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="module")
def dsn():
    """A database of its own on the suite's server, dropped with its connections at the end."""
    name = f"hpml_sql_{uuid.uuid4().hex[:12]}"
    admin = _admin(f"{SERVER}/postgres")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        with _admin(f"{SERVER}/{name}") as conn, conn.cursor() as cursor:
            cursor.execute(SETUP)
        conn.close()
        yield f"{SERVER}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cursor.execute(f"DROP DATABASE {name}")
        admin.close()


def scalar(dsn: str, sql: str):
    conn = _admin(dsn)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]
    finally:
        conn.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_it_writes_the_rows_to_parquet_with_numeric_features_and_an_int_label(dsn, tmp_path):
    dest = tmp_path / "out.parquet"

    count = query_to_parquet(GOOD + " ORDER BY id", dest, dsn=dsn)

    table = pq.read_table(dest)
    assert count == table.num_rows == ROWS
    assert {f.name: str(f.type) for f in table.schema} == {
        "f_int": "int64",
        "f_float": "double",
        "f_real": "double",
        "f_numeric": "double",
        "f_bool": "int64",
        "f_null": "double",
        "label": "int64",
    }
    first = table.slice(0, 1).to_pylist()[0]
    assert first == {
        "f_int": 1,
        "f_float": 0.1,
        "f_real": 1.0,
        "f_numeric": 0.25,
        "f_bool": 0,
        "f_null": 1.0,
        "label": 1,
    }
    assert table.column("f_null").null_count == 1
    assert table.to_pandas()["f_null"].isna().sum() == 1  # a NaN for the dataset checks to refuse


def test_it_keeps_a_text_label_as_strings(dsn, tmp_path):
    dest = tmp_path / "out.parquet"

    query_to_parquet(
        "SELECT f_int, label_text AS target FROM samples", dest, dsn=dsn, label_column="target"
    )

    table = pq.read_table(dest)
    assert str(table.schema.field("target").type) == "string"
    assert set(table.column("target").to_pylist()) == {"class-0", "class-1", "class-2"}


@pytest.mark.parametrize(
    "sql",
    [
        "WITH s AS (SELECT * FROM samples WHERE id <= 10) SELECT f_int, label FROM s",
        "SELECT f_int, label FROM samples WHERE id <= 10;",
        "SELECT f_int, label FROM samples WHERE id <= 10 ;  -- ten rows\n",
        "(SELECT f_int, label FROM samples WHERE id <= 10)",
    ],
)
def test_it_runs_a_with_query_a_trailing_semicolon_and_parentheses(dsn, tmp_path, sql):
    assert query_to_parquet(sql, tmp_path / "out.parquet", dsn=dsn) == 10


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1;", "SELECT 1"),
        ("  select 1 ;; -- done; really\n", "select 1"),
        ("VALUES (1, 2)", "VALUES (1, 2)"),
        ("TABLE samples", "TABLE samples"),
        ("-- first the notes\nSELECT 1", "-- first the notes\nSELECT 1"),
        ("SELECT 1 -- a; DROP TABLE samples\n", "SELECT 1"),
    ],
)
def test_check_query_returns_the_query_without_its_trailing_semicolon(sql, expected):
    assert check_query(sql) == expected


def test_it_refuses_delete_before_it_runs(dsn, tmp_path):
    dest = tmp_path / "out.parquet"

    with pytest.raises(SourceError, match=r"only a query that reads can run .*not DELETE"):
        query_to_parquet("DELETE FROM samples", dest, dsn=dsn)

    assert scalar(dsn, "SELECT count(*) FROM samples") == ROWS
    assert not dest.exists()


def test_it_refuses_a_second_statement(dsn, tmp_path):
    with pytest.raises(SourceError, match="send one statement"):
        query_to_parquet("SELECT 1; DROP TABLE samples", tmp_path / "out.parquet", dsn=dsn)

    assert scalar(dsn, "SELECT count(*) FROM samples") == ROWS


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("INSERT INTO samples (id) VALUES (1)", "not INSERT"),
        ("UPDATE samples SET label = 0", "not UPDATE"),
        ("MERGE INTO samples s USING samples t ON true WHEN MATCHED THEN DELETE", "not MERGE"),
        ("TRUNCATE samples", "not TRUNCATE"),
        ("DROP TABLE samples", "not DROP"),
        ("ALTER TABLE samples ADD c int", "not ALTER"),
        ("CREATE TABLE x (a int)", "not CREATE"),
        ("GRANT SELECT ON samples TO public", "not GRANT"),
        ("COPY samples TO STDOUT", "not COPY"),
        ("CALL p()", "not CALL"),
        ("DO $$ BEGIN END $$", "not DO"),
        ("SET statement_timeout = 0", "not SET"),
        ("EXPLAIN ANALYZE DELETE FROM samples", "not EXPLAIN"),
        ("SELECT * INTO copy FROM samples", r"SELECT \.\.\. INTO creates a table"),
        ("SELECT * FROM samples FOR UPDATE", "FOR UPDATE/SHARE locks rows"),
        ("SELECT * FROM samples FOR NO KEY UPDATE", "FOR UPDATE/SHARE locks rows"),
        ("select * from samples for share", "FOR UPDATE/SHARE locks rows"),
        ("WITH d AS (DELETE FROM samples RETURNING *) SELECT * FROM d", "it holds DELETE"),
        ("WITH s AS (SELECT 1) INSERT INTO samples (id) SELECT * FROM s", "it holds INSERT"),
        ("SELECT 1; DROP TABLE samples", "send one statement; this text holds 2"),
        ("SELECT 1 AS begin; DROP TABLE samples", "send one statement"),
        ("SELECT ';' AS x", r"a semicolon may only end the query, .*chr\(59\)"),
        ("SELECT 1 -- one; or two\n, 2", "a semicolon may only end the query"),
        # PostgreSQL ends the first string at the quote after the backslash; sqlparse reads on.
        (r"SELECT 'a\'; DELETE FROM samples; SELECT 'b'", "a semicolon may only end the query"),
        ("", "the query is empty"),
        ("  ;  ", "the query is empty"),
        ("-- nothing here\n/* or here */", "the query is empty"),
        ("SELECT 1\x00", "NUL character"),
        ("SELECT " + "1" * 100_000, "longer than 100,000 characters"),
    ],
)
def test_check_query_refuses_anything_but_one_query_that_reads(sql, message):
    with pytest.raises(SourceError, match=message):
        check_query(sql)


def test_it_accepts_keywords_inside_strings_quoted_names_and_comments(dsn, tmp_path):
    sql = """
        /* delete the noise: */ SELECT f_int AS "update", label
        FROM samples
        WHERE name <> 'insert into audit' AND name <> 'drop table samples'  -- update later
    """

    assert query_to_parquet(sql, tmp_path / "out.parquet", dsn=dsn) == ROWS


@pytest.mark.parametrize(
    ("sql", "unchanged"),
    [
        ("SELECT nextval('tickets') AS f, label FROM samples", "SELECT is_called FROM tickets"),
        ("SELECT audited() AS f, label FROM samples", "SELECT count(*) > 0 FROM audit"),
        ("SELECT f_int, label FROM samples, audited()", "SELECT count(*) > 0 FROM audit"),
    ],
)
def test_a_function_that_writes_is_stopped_by_the_read_only_transaction(
    dsn, tmp_path, sql, unchanged
):
    dest = tmp_path / "out.parquet"

    with pytest.raises(SourceError, match="the SQL source is read-only: cannot execute"):
        query_to_parquet(sql, dest, dsn=dsn)

    assert scalar(dsn, unchanged) is False
    assert not dest.exists()


def test_a_query_over_the_statement_timeout_is_cancelled(dsn, tmp_path):
    dest = tmp_path / "out.parquet"
    started = time.monotonic()

    with pytest.raises(SourceError, match="ran longer than the statement timeout of 0.5s"):
        query_to_parquet(
            "SELECT f_int, label FROM samples, pg_sleep(3)", dest, dsn=dsn, statement_timeout=0.5
        )

    assert time.monotonic() - started < 2.5
    assert not dest.exists()


def test_it_refuses_more_rows_than_max_rows_and_removes_the_partial_file(dsn, tmp_path):
    dest, done = tmp_path / "out.parquet", []

    with pytest.raises(SourceError, match=r"returned more than 100 rows \(SQL_MAX_ROWS\)"):
        query_to_parquet(GOOD, dest, dsn=dsn, max_rows=100, batch_rows=30, progress=done.append)

    assert done == [30, 60, 90]  # written before the limit was crossed, then removed
    assert not dest.exists()


def test_exactly_max_rows_is_accepted(dsn, tmp_path):
    assert query_to_parquet(GOOD, tmp_path / "out.parquet", dsn=dsn, max_rows=ROWS) == ROWS


def test_it_streams_the_rows_in_batches(dsn, tmp_path):
    dest, done = tmp_path / "out.parquet", []

    query_to_parquet(GOOD, dest, dsn=dsn, batch_rows=7, progress=done.append)

    assert done == [*range(7, ROWS, 7), ROWS]
    assert pq.ParquetFile(dest).metadata.num_row_groups == len(done)  # one per batch fetched


def test_a_query_cannot_lift_its_own_timeout_for_later_fetches(dsn, tmp_path):
    # The first row turns the timeout off for the transaction; the second then sleeps.
    sql = (
        "SELECT id AS f, length(set_config('statement_timeout', '0', true)) AS t, "
        "CASE WHEN id > 1 THEN length(pg_sleep(3)::text) ELSE 0 END AS slept, 0 AS label "
        "FROM samples WHERE id <= 2 ORDER BY id"
    )
    started = time.monotonic()

    with pytest.raises(SourceError, match="ran longer than the statement timeout of 0.5s"):
        query_to_parquet(
            sql, tmp_path / "out.parquet", dsn=dsn, statement_timeout=0.5, batch_rows=1
        )

    assert time.monotonic() - started < 2.5


def test_a_batch_over_the_byte_budget_makes_the_next_fetch_smaller(dsn, tmp_path, monkeypatch):
    monkeypatch.setattr("datasets.sources.sql.BATCH_BYTES", 2000)
    dest, done = tmp_path / "out.parquet", []
    sql = "SELECT f_int, label_text || repeat('x', 200) AS label FROM samples ORDER BY id"

    query_to_parquet(sql, dest, dsn=dsn, batch_rows=50, progress=done.append)

    sizes = [b - a for a, b in zip([0, *done], done, strict=False)]
    assert sizes[0] == 50 and max(sizes[1:]) <= 25  # about 11 KB, so at least halved
    assert sizes[1:] == sorted(sizes[1:], reverse=True) and done[-1] == ROWS
    assert pq.read_table(dest).num_rows == ROWS


def test_a_wide_result_starts_with_fewer_rows(dsn, tmp_path, monkeypatch):
    monkeypatch.setattr("datasets.sources.sql.BATCH_BYTES", 7 * 8 * 10)  # ten rows of GOOD
    done = []

    query_to_parquet(GOOD, tmp_path / "out.parquet", dsn=dsn, batch_rows=50, progress=done.append)

    assert done[0] == 10


def test_it_refuses_a_label_longer_than_a_class_name_and_names_the_column(dsn, tmp_path):
    dest = tmp_path / "out.parquet"
    sql = "SELECT f_int, CASE WHEN id = 400 THEN repeat('x', 257) ELSE 'a' END AS kind FROM samples"

    with pytest.raises(SourceError) as caught:
        query_to_parquet(sql, dest, dsn=dsn, label_column="kind")

    assert str(caught.value) == "the label 'kind' holds values longer than 256 characters"
    assert not dest.exists()


def test_a_label_of_256_characters_is_accepted_whatever_its_bytes(dsn, tmp_path):
    dest = tmp_path / "out.parquet"

    query_to_parquet("SELECT f_int, repeat('é', 256) AS label FROM samples", dest, dsn=dsn)

    assert set(pq.read_table(dest).column("label").to_pylist()) == {"é" * 256}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT f_int, f_float FROM samples",
            r"no label column 'label' \(columns: f_int, f_float\); name it with AS label",
        ),
        (
            "SELECT f_int, name, label FROM samples",
            "feature columns must be numeric; 'name' is text",
        ),
        ("SELECT now() AS at, label FROM samples", "'at' is timestamp with time zone"),
        ("SELECT f_int, f_int, label FROM samples", "more than one column named 'f_int'"),
        ("SELECT 1, 2, label FROM samples", r"more than one column named '\?column\?'"),
        ("SELECT f_int, label FROM samples WHERE false", "the query returned no rows"),
        ("SELECT f_int label FROM samples WHERE", "syntax error at end of input"),
        ("SELECT f_int, label FROM nowhere", 'relation "nowhere" does not exist'),
        ("SELECT f_nope, label FROM samples", 'column "f_nope" does not exist'),
        ("SELECT f_int / 0 AS f, label FROM samples", "division by zero"),
    ],
)
def test_it_refuses_a_result_it_cannot_use_with_a_readable_message(dsn, tmp_path, sql, message):
    dest = tmp_path / "out.parquet"

    with pytest.raises(SourceError, match=message):
        query_to_parquet(sql, dest, dsn=dsn)

    assert not dest.exists()


def test_an_unreachable_server_is_transient_and_the_password_is_not_shown(tmp_path):
    dsn = f"postgresql://reader:s3cret-pw@127.0.0.1:{closed_port()}/source"

    with pytest.raises(TransientSourceError, match="cannot reach the SQL source") as caught:
        query_to_parquet(GOOD, tmp_path / "out.parquet", dsn=dsn)

    assert "s3cret-pw" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_a_malformed_dsn_is_refused_without_showing_the_password(tmp_path):
    with pytest.raises(SourceError) as caught:
        query_to_parquet(GOOD, tmp_path / "out.parquet", dsn="host=db password=s3cret-pw oops")

    assert "s3cret-pw" not in str(caught.value)


def test_sql_ingestion_is_off_without_a_dsn(tmp_path):
    with pytest.raises(SourceError, match="SQL ingestion is off: set SQL_SOURCE_URL"):
        query_to_parquet(GOOD, tmp_path / "out.parquet", dsn="")


def test_it_closes_its_connection_whether_the_query_works_or_not(dsn, tmp_path):
    query_to_parquet(GOOD, tmp_path / "a.parquet", dsn=dsn)
    with pytest.raises(SourceError):
        query_to_parquet(
            "SELECT f_int / 0 AS f, label FROM samples", tmp_path / "b.parquet", dsn=dsn
        )

    # A backend leaves pg_stat_activity a moment after its client hangs up.
    left = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hpml-sql-ingest'"
    deadline = time.monotonic() + 5
    while scalar(dsn, left) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scalar(dsn, left) == 0
