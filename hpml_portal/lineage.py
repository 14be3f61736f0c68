"""Walking parent links in one query, whatever the depth (a recursive CTE, which PostgreSQL
and SQLite both run), so lineage pages cost a fixed number of queries."""

from django.db import connection, models

MAX_DEPTH = 1000  # a guard against a cycle written by hand into the database


def ancestor_ids(model: type[models.Model], pk: int, *, parent_field: str = "parent") -> list[int]:
    """The ids of the parent, grandparent, ... of row ``pk``, nearest first."""
    table, column = _names(model, parent_field)
    sql = f"""
        WITH RECURSIVE up(id, depth) AS (
            SELECT {column}, 1 FROM {table} WHERE id = %s AND {column} IS NOT NULL
            UNION ALL
            SELECT t.{column}, up.depth + 1 FROM {table} t JOIN up ON t.id = up.id
            WHERE t.{column} IS NOT NULL AND up.depth < %s
        )
        SELECT id FROM up ORDER BY depth
    """
    return _ids(sql, [pk, MAX_DEPTH])


def descendant_ids(
    model: type[models.Model], pk: int, *, parent_field: str = "parent"
) -> list[int]:
    """The ids of the children, grandchildren, ... of row ``pk``, nearest first."""
    table, column = _names(model, parent_field)
    sql = f"""
        WITH RECURSIVE down(id, depth) AS (
            SELECT id, 1 FROM {table} WHERE {column} = %s
            UNION ALL
            SELECT t.id, down.depth + 1 FROM {table} t JOIN down ON t.{column} = down.id
            WHERE down.depth < %s
        )
        SELECT id FROM down ORDER BY depth, id
    """
    return _ids(sql, [pk, MAX_DEPTH])


def _names(model: type[models.Model], parent_field: str) -> tuple[str, str]:
    quote = connection.ops.quote_name
    return quote(model._meta.db_table), quote(model._meta.get_field(parent_field).column)


def _ids(sql: str, params: list) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        seen: dict[int, None] = {}
        for (pk,) in cursor.fetchall():
            seen.setdefault(pk, None)
        return list(seen)
