"""One exception handler for the whole API: services' errors become their HTTP answers."""

from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


class _ServiceFailure(exceptions.APIException):
    def __init__(self, status_code: int, detail: str):
        self.status_code = status_code
        super().__init__(detail)


def exception_handler(exc, context):
    """Answer an exception that names its ``http_status`` (services, the serving core) with
    that status and its message; everything else as DRF does (a bug stays a 500)."""
    status_code = getattr(exc, "http_status", None)
    if isinstance(status_code, int) and not isinstance(exc, exceptions.APIException):
        exc = _ServiceFailure(status_code, str(exc))
    return drf_exception_handler(exc, context)
