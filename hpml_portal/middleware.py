"""Request checks that every view would otherwise have to repeat."""

from django.http import JsonResponse

from . import uploads
from .errors import PayloadTooLarge


class RefuseNulCharacters:
    """400 for a NUL character in the path or query string.

    PostgreSQL cannot hold NUL in text, so a lookup, filter or search that carried one would
    fail deep in the database (a 500). Bodies are checked by their serializers and forms.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            return JsonResponse(
                {"detail": "the URL holds a NUL character, which no name or value may hold"},
                status=400,
            )
        return self.get_response(request)


class RefuseOversizedBodies:
    """413 for a request body over the upload limit (``hpml_portal.uploads``), before it is read.

    The Content-Length header alone decides: nothing reads the body until a view asks for it,
    so the answer goes out while the body is still on its way. A body may hold the limit plus
    an allowance for multipart framing and form fields; files that pass the limit inside it
    are stopped as they stream by ``uploads.LimitedUploadHandler``, whose ``PayloadTooLarge``
    becomes a 413 here too (the API's exception handler answers it for DRF views). A
    Content-Length that is not a number of bytes is a 400.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = request.META.get("CONTENT_LENGTH") or ""
        if length and not (length.isascii() and length.isdigit()):
            detail = f"the Content-Length header is not a number of bytes: {length[:40]!r}"
            return uploads.refusal(request, 400, detail)
        limit, setting, ceiling = uploads.body_limit(request)
        if length and ceiling and int(length) > ceiling:
            detail = (
                f"the request body is {int(length)} bytes, over the limit of {limit} bytes "
                f"({setting})"
            )
            return uploads.refusal(request, 413, detail)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # CsrfViewMiddleware reads the form of a POST to a view it protects before the view
        # runs, where PayloadTooLarge would be a 500: read it here first. (It would refuse a
        # POST without a CSRF cookie unread, but anyone can get the cookie, so reading those
        # too gives nobody more.) Exempt views, the API's, read their body after authentication.
        if (
            request.method == "POST"
            and request.content_type == "multipart/form-data"
            and not getattr(view_func, "csrf_exempt", False)
        ):
            try:
                request.FILES  # noqa: B018 (parses the body)
            except PayloadTooLarge as exc:
                return uploads.refusal(request, 413, str(exc))
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, PayloadTooLarge):
            return uploads.refusal(request, 413, str(exception))
        return None
