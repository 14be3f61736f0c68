"""Upload limits applied while a request arrives, not after it has been written to disk.

Two checks hold uploads to ``DATASET_MAX_UPLOAD_BYTES``:

- ``hpml_portal.middleware.RefuseOversizedBodies`` answers 413 from the Content-Length header
  alone, before any of the body is read;
- ``LimitedUploadHandler`` counts the bytes of the uploaded files as the multipart parser streams
  them and stops the parse once they pass the limit: the header check allows for framing and
  form fields, so a body it lets through may still carry too many file bytes.
"""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import PayloadTooLarge

# What a multipart body may hold besides its files: boundaries, part headers and form fields.
MULTIPART_ALLOWANCE_BYTES = 1024 * 1024


def body_limit(request: HttpRequest) -> tuple[int, str, int]:
    """The limit on this request's body, the setting that says so, and the most bytes the
    body may carry under it.

    Only multipart bodies carry files: DATASET_MAX_UPLOAD_BYTES, plus an allowance for framing
    and form fields. Any other body (JSON, a form) is parsed in memory, so
    DATA_UPLOAD_MAX_MEMORY_SIZE holds it.
    """
    if request.content_type == "multipart/form-data":
        limit = settings.DATASET_MAX_UPLOAD_BYTES
        return limit, "DATASET_MAX_UPLOAD_BYTES", limit + MULTIPART_ALLOWANCE_BYTES
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
    return limit, "DATA_UPLOAD_MAX_MEMORY_SIZE", limit


def refusal(request: HttpRequest, status: int, detail: str) -> HttpResponse:
    """``{"detail": ...}`` for the API, as its exception handler answers; plain text for pages."""
    if request.path_info.startswith("/api/"):
        response = JsonResponse({"detail": detail}, status=status)
    else:
        response = HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
    # Answered before CommonMiddleware could add it; with it a client knows where the answer
    # ends while its own body is still unread.
    response["Content-Length"] = len(response.content)
    return response


class LimitedUploadHandler(FileUploadHandler):
    """Stops a multipart parse once the files of the request pass DATASET_MAX_UPLOAD_BYTES.

    First in FILE_UPLOAD_HANDLERS, so that no chunk past the limit reaches the handlers that
    store files. It raises ``PayloadTooLarge`` rather than Django's ``StopUpload``, on which
    the parser hands the view the files cut short as if they were whole. On any other
    exception the parser closes (so deletes) the files it has completed, but not the one being
    written: ``upload_interrupted`` has the handler that writes it delete it.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        limit = settings.DATASET_MAX_UPLOAD_BYTES
        if self.received > limit:
            for handler in self._others():
                handler.upload_interrupted()  # TemporaryFileUploadHandler deletes its file
            raise PayloadTooLarge(
                f"the uploaded files are over the limit of {limit} bytes "
                "(DATASET_MAX_UPLOAD_BYTES); the upload was stopped there"
            )
        return raw_data

    def file_complete(self, file_size):
        return None  # the handlers after this one make the file

    def _others(self) -> list[FileUploadHandler]:
        handlers = self.request.upload_handlers if self.request is not None else []
        return [handler for handler in handlers if handler is not self]
