"""Data sources for the dataset tests: a local HTTP file server and a second PostgreSQL
database (the SQL source), both made by the tests and removed afterwards."""

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2


class FileServer:
    """Serves ``files`` (path -> bytes) on 127.0.0.1; any other path answers 404, and paths in
    ``statuses`` answer that status."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.statuses: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server name)
                if self.path in server.statuses:
                    self.send_error(server.statuses[self.path])
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


SQL_SETUP = """
CREATE TABLE flowers AS
SELECT i AS id, (i % 3) AS kind, (i % 3) * 2.0 + (i % 7) * 0.1 AS petal,
       (i % 5) * 1.0 AS sepal, CASE WHEN i % 3 = 0 THEN 'setosa' ELSE 'other' END AS name
FROM generate_series(1, 90) AS i;
"""


class SqlSource:
    """A PostgreSQL database of its own with a ``flowers`` table, dropped on exit."""

    def __init__(self, server_url: str = "postgresql://postgres@127.0.0.1:5432"):
        self.server_url = server_url
        self.name = f"hpml_source_{uuid.uuid4().hex[:10]}"
        self.dsn = f"{server_url}/{self.name}"

    def _admin(self, sql: str) -> None:
        connection = psycopg2.connect(f"{self.server_url}/postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql)
        connection.close()

    def __enter__(self):
        self._admin(f'CREATE DATABASE "{self.name}"')
        connection = psycopg2.connect(self.dsn)
        with connection, connection.cursor() as cursor:
            cursor.execute(SQL_SETUP)
        connection.close()
        return self

    def count(self, table: str = "flowers") -> int:
        connection = psycopg2.connect(self.dsn)
        with connection, connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")
            (n,) = cursor.fetchone()
        connection.close()
        return n

    def __exit__(self, *exc):
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
