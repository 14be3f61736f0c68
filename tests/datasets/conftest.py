"""Fixtures the dataset tests share: the data sources they read from, and after-commit work."""

import pytest

from tests.datasets.sources import FileServer, SqlSource


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what a request leaves for after commit (queueing, removing stored objects)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture(scope="session")
def sql_source():
    """A second PostgreSQL database with a ``flowers`` table: what SQL_SOURCE_URL queries."""
    with SqlSource() as source:
        yield source


@pytest.fixture
def url_files(settings):
    """A local file server the worker may fetch from (INGEST_URL_ALLOW_PRIVATE on)."""
    settings.INGEST_URL_ALLOW_PRIVATE = True
    with FileServer() as server:
        yield server
