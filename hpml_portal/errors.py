"""The errors services raise, each carrying the HTTP status the API answers it with.

Services raise these (or subclasses named for their app); the API's one exception handler
(``hpml_portal.api.exceptions``) turns any exception with an ``http_status`` into that answer, and
commands turn them into a one-line ``CommandError``. Plain Python: the ML core may mirror the
``http_status`` attribute without importing Django.
"""


class ServiceError(Exception):
    """A request that cannot be carried out; the message says why, for people."""

    http_status = 400


class InvalidRequest(ServiceError, ValueError):
    http_status = 400


class Forbidden(ServiceError, PermissionError):
    """The caller may see the object but lacks the role for this action."""

    http_status = 403


class NotFound(ServiceError, LookupError):
    """No such object among those the caller may see (another team's objects included)."""

    http_status = 404


class Conflict(ServiceError):
    """The request is valid but the object's state (or a limit on it) refuses it now."""

    http_status = 409


class Unavailable(ServiceError):
    """A service the request needs (broker, storage) cannot be reached."""

    http_status = 503


class PayloadTooLarge(ServiceError):
    """A request body, or the files in it, over the upload limit: refused before more is read."""

    http_status = 413


class StorageUnavailable(Unavailable):
    """The object storage cannot be reached, or failed on its side: trying later may work."""
