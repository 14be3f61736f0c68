"""How the API's answers read in the OpenAPI schema: one error shape, and the status codes
every operation can answer without saying so itself.

Every view's schema is an ``ApiSchema`` of its own (``PerViewApiSchema`` on the API's base
views). It adds to each operation the errors that the shared machinery answers, whatever the
view: 400 (a query parameter, the body, or a NUL character in the URL), 401 and 403
(authentication and roles), 404 (an object in the path that is not among the caller's, or a
page past the last), 413 (a body over the upload limit) and 429 (a write over
``THROTTLE_SUBMIT_RATE``). A view declares the rest (409, 503, ...) with ``errors()`` in its
``extend_schema(responses=...)``.
"""

import copy
import threading

from drf_spectacular import extensions
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.schemas.inspectors import DefaultSchema

from .limits import MAX_ID, MAX_VERSION, SLUG_PATTERN  # noqa: F401 (the API's bounds)


class ErrorSerializer(serializers.Serializer):
    """Why the request was refused. A 400 from a body's check also names each field it
    refused (``{"field": ["message", ...]}``) besides ``detail``."""

    detail = serializers.CharField(help_text="why, in one line")

    class Meta:
        ref_name = "Error"


def required(field: serializers.Field) -> serializers.Field:
    """A new field like ``field`` but required (a field's attributes set after it was made do
    not survive the copies a serializer makes of its fields)."""
    kwargs = copy.deepcopy(field._kwargs)
    kwargs.pop("default", None)
    return type(field)(*copy.deepcopy(field._args), **{**kwargs, "required": True})


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


def errors(described: dict[int, str]) -> dict[int, OpenApiResponse]:
    """``extend_schema`` responses for error codes: ``errors({409: "why", 503: "why"})``."""
    return {code: error(text) for code, text in described.items()}


BAD_REQUEST = "a query parameter or the body is not acceptable (detail says which and why)"
UNAUTHENTICATED = "no credentials, or bad ones"
FORBIDDEN = "your role in the object's team, or your token, does not allow this"
NOT_FOUND = "no such object among your teams' (another team's reads as missing)"
NOT_FOUND_PAGE = "a page past the last one"
TOO_LARGE = "the request body is over the upload limit"
THROTTLED = "over THROTTLE_SUBMIT_RATE writes for you: retry after Retry-After seconds"


_resolved = {"done": False}
_resolving = threading.Lock()


def resolve_extension_targets() -> None:
    """drf-spectacular imports the class each of its extensions is for on first use, and two
    threads making a first schema at once race there: one reads the None the other just wrote
    for a missing app (a 500). Every extension is resolved once, under a lock, first."""
    with _resolving:
        if _resolved["done"]:
            return
        for kind in (
            extensions.OpenApiAuthenticationExtension,
            extensions.OpenApiSerializerExtension,
            extensions.OpenApiSerializerFieldExtension,
            extensions.OpenApiViewExtension,
            extensions.OpenApiFilterExtension,
        ):
            for extension in kind._registry:
                if isinstance(extension.target_class, str):
                    extension._load_class()
        _resolved["done"] = True


class ApiSchema(AutoSchema):
    """drf-spectacular's schema, plus the error answers every operation shares."""

    def get_operation(self, *args, **kwargs):
        resolve_extension_targets()
        return super().get_operation(*args, **kwargs)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._shared_errors().items():
            responses.setdefault(
                str(code), self._get_response_for_code(error(description), str(code))
            )
        return dict(sorted(responses.items()))

    def _shared_errors(self) -> dict[int, str]:
        shared = {400: BAD_REQUEST, 401: UNAUTHENTICATED, 403: FORBIDDEN}
        found = [NOT_FOUND] if "{" in self.path else []
        if self.method == "GET" and self._is_list_view():
            found.append(NOT_FOUND_PAGE)
        if found:
            shared[404] = ", or ".join(found)
        if self.method not in ("GET", "HEAD", "OPTIONS"):
            shared[429] = THROTTLED
        if self.method in ("POST", "PUT", "PATCH"):
            shared[413] = TOO_LARGE
        return shared


class PerViewApiSchema(DefaultSchema):
    """What the API's views set as ``schema``: each view gets an ``ApiSchema`` of its own, as
    DRF's DefaultSchema gives each its DEFAULT_SCHEMA_CLASS. One ``ApiSchema()`` set on a class
    is shared by every view of it, and two requests making the schema at once read each
    other's view (a FilterSet of one view checked against another's model: a 500)."""

    def __get__(self, instance, owner):
        if instance in self.instance_schemas:  # set on the view (the schema generator does)
            return self.instance_schemas[instance]
        inspector = ApiSchema()
        inspector.view = instance
        return inspector
