"""Where dataset content comes from besides an upload: URLs (http, https, s3) and SQL queries.

Plain Python (no Django models): each source streams its content into a local file and raises
``SourceError`` for a request that can never succeed, ``TransientSourceError`` for one worth
trying again (a server or network hiccup).
"""


class SourceError(ValueError):
    """The source cannot give a dataset; the message says why, for people. Never retried."""


class TransientSourceError(Exception):
    """The source failed in a way that may pass (a 5xx, a reset connection): retried."""
