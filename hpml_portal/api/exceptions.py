"""One exception handler for the whole API: services' errors become their HTTP answers, and
every error answer is an object with ``detail`` (the schema's ``Error``)."""

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


class _ServiceFailure(exceptions.APIException):
    def __init__(self, status_code: int, detail: str):
        self.status_code = status_code
        super().__init__(detail)


def exception_handler(exc, context):
    """Answer an exception that names its ``http_status`` (services, the serving core) with
    that status and its message; everything else as DRF does (a bug stays a 500). A refused
    body's field errors keep their keys, and ``detail`` sums them up in one line."""
    status_code = getattr(exc, "http_status", None)
    if isinstance(status_code, int) and not isinstance(exc, exceptions.APIException):
        exc = _ServiceFailure(status_code, str(exc))
    elif isinstance(exc, OperationalError | InterfaceError):  # PostgreSQL away, not a bug
        exc = _ServiceFailure(503, "the database cannot be reached now; try again shortly")
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = with_detail(response.data)
    return response


def with_detail(data) -> dict:
    """``{"field": ["message"]}`` as ``{"detail": "field: message", "field": ["message"]}``;
    a bare list of messages as ``{"detail": "message; ..."}``."""
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, str):
            return data
        summary = _first_message(data) if detail is None else "; ".join(map(str, _messages(detail)))
        return {"detail": summary, **{key: value for key, value in data.items() if key != "detail"}}
    return {"detail": "; ".join(str(message) for message in _messages(data))}


def _first_message(errors, where: str = "") -> str:
    if isinstance(errors, dict):
        key, value = next(iter(errors.items()), ("", ""))
        inner = key if key in ("", "non_field_errors", "detail") else f"{where}{key}"
        return _first_message(value, f"{inner}." if inner else "")
    if isinstance(errors, list) and errors:
        return _first_message(errors[0], where)
    where = where.removesuffix(".")
    return f"{where}: {errors}" if where else str(errors)


def _messages(errors) -> list:
    if isinstance(errors, list):
        return [m for item in errors for m in _messages(item)]
    if isinstance(errors, dict):
        return [m for item in errors.values() for m in _messages(item)]
    return [errors]


def not_found(request, exception=None):
    """Django's 404 for a URL that no route matches (``handler404``): under /api/, the API's
    error shape instead of an HTML page (``/api/v1/runs/0.5/`` is a missing run, as
    ``/api/v1/runs/999/`` is)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": f"there is no {request.path[:200]} here"}, status=404)
    return page_not_found(request, exception)
