import io
import json
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from datasets.models import Dataset, DatasetVersion
from hpml_portal.errors import PayloadTooLarge
from hpml_portal.middleware import RefuseOversizedBodies
from hpml_portal.uploads import MULTIPART_ALLOWANCE_BYTES, LimitedUploadHandler
from tests.helpers import stored_keys

ADMIN_UPLOAD = "/admin/datasets/datasetversion/upload/"


@csrf_exempt
def _count_files(request):
    return HttpResponse(str(len(request.FILES)))


# A view outside the admin and DRF that reads the files itself (see test_a_plain_view_...).
urlpatterns = [path("plain-upload/", _count_files)]


@pytest.fixture
def small_limit(settings, tmp_path):
    """Uploads limited to 1,000 bytes of files, written to temporary files under tmp_path."""
    settings.DATASET_MAX_UPLOAD_BYTES = 1000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every upload goes to a temporary file
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    return tmp_path


@pytest.fixture
def temporary_uploads(monkeypatch):
    """The paths of the temporary files Django's upload handler creates during the test."""
    paths = []
    new_file = TemporaryFileUploadHandler.new_file

    def recording_new_file(self, *args, **kwargs):
        new_file(self, *args, **kwargs)
        paths.append(Path(self.file.temporary_file_path()))

    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file", recording_new_file)
    return paths


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def dataset(api_client):
    return api_client.post("/api/v1/datasets/", {"name": "blobs"}, format="json").json()


def read_response(conn: socket.socket) -> tuple[bytes, bytes]:
    """The head and body of one HTTP response, as far as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += conn.recv(4096)
    return head, body


@pytest.mark.django_db
def test_it_answers_413_from_content_length_before_the_body_arrives(live_server, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
    url = urlsplit(live_server.url)
    request = (
        "POST /api/v1/datasets/1/versions/ HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        "Content-Length: 300000000\r\n\r\n"
    )

    # No body is ever sent: a server that waited for it would time the socket out.
    with socket.create_connection((url.hostname, url.port), timeout=2) as conn:
        conn.sendall(request.encode())
        head, body = read_response(conn)

    assert head.startswith(b"HTTP/1.1 413")
    assert body == (
        b'{"detail": "the request body is 300000000 bytes, over the limit of 1000000 bytes '
        b'(DATASET_MAX_UPLOAD_BYTES)"}'
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path, content_type",
    [("/api/v1/datasets/1/versions/", "application/json"), (ADMIN_UPLOAD, "text/plain")],
)
def test_it_answers_413_from_the_header_alone_json_for_the_api_and_text_for_pages(
    client, settings, path, content_type
):
    settings.DATASET_MAX_UPLOAD_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    too_long = 1000 + MULTIPART_ALLOWANCE_BYTES + 1

    # The test client's body is empty: reading any of it would fail the request.
    answer = client.generic("POST", path, b"", MULTIPART_CONTENT, CONTENT_LENGTH=str(too_long))

    assert answer.status_code == 413 and answer["Content-Type"].startswith(content_type)
    detail = f"the request body is {too_long} bytes, over the limit of 1000 bytes"
    assert detail in answer.content.decode()


@pytest.mark.parametrize("length", ["12abc", "-5", "1e9", "1_000"])
def test_a_content_length_that_is_not_a_number_of_bytes_is_a_400(length):
    request = RequestFactory().generic("POST", "/api/v1/datasets/", CONTENT_LENGTH=length)

    answer = RefuseOversizedBodies(lambda request: HttpResponse("read"))(request)

    assert answer.status_code == 400
    assert json.loads(answer.content) == {
        "detail": f"the Content-Length header is not a number of bytes: {length!r}"
    }


def test_the_header_allows_multipart_framing_and_holds_other_bodies_to_the_memory_limit(
    settings,
):
    settings.DATASET_MAX_UPLOAD_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 5000
    middleware = RefuseOversizedBodies(lambda request: HttpResponse("read"))
    ceiling = 1000 + MULTIPART_ALLOWANCE_BYTES

    def answer(length: int, content_type: str) -> HttpResponse:
        request = RequestFactory().generic(
            "POST", "/x/", CONTENT_TYPE=content_type, CONTENT_LENGTH=str(length)
        )
        return middleware(request)

    assert answer(ceiling, MULTIPART_CONTENT).content == b"read"
    assert answer(ceiling + 1, MULTIPART_CONTENT).status_code == 413
    assert answer(5000, "application/json").content == b"read"
    refused = answer(5001, "application/json")
    assert refused.status_code == 413
    assert b"over the limit of 5000 bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)" in refused.content


@pytest.mark.django_db
def test_an_api_upload_over_the_limit_answers_413_and_keeps_nothing(
    api_client, dataset, small_limit, temporary_uploads
):
    answer = api_client.post(
        f"/api/v1/datasets/{dataset['id']}/versions/",
        {"file": SimpleUploadedFile("big.npz", b"x" * 5000)},
        format="multipart",
    )

    assert answer.status_code == 413
    assert answer.json() == {
        "detail": "the uploaded files are over the limit of 1000 bytes "
        "(DATASET_MAX_UPLOAD_BYTES); the upload was stopped there"
    }
    assert Dataset.objects.count() == 1 and not DatasetVersion.objects.exists()
    assert stored_keys() == []
    assert temporary_uploads and not any(p.exists() for p in temporary_uploads)
    assert list(small_limit.iterdir()) == []


@pytest.mark.django_db
def test_an_api_upload_of_exactly_the_limit_is_accepted(api_client, dataset, settings, small_npz):
    settings.DATASET_MAX_UPLOAD_BYTES = len(small_npz)

    answer = api_client.post(
        f"/api/v1/datasets/{dataset['id']}/versions/",
        {"file": SimpleUploadedFile("blobs.npz", small_npz)},
        format="multipart",
    )

    assert answer.status_code == 202, answer.content


@pytest.mark.django_db
def test_an_admin_upload_over_the_limit_answers_413_and_keeps_nothing(
    admin_client, small_limit, temporary_uploads
):
    answer = admin_client.post(
        ADMIN_UPLOAD, {"dataset": "uploaded", "file": SimpleUploadedFile("big.npz", b"x" * 5000)}
    )

    assert answer.status_code == 413 and answer["Content-Type"].startswith("text/plain")
    assert b"over the limit of 1000 bytes (DATASET_MAX_UPLOAD_BYTES)" in answer.content
    assert not Dataset.objects.exists() and not DatasetVersion.objects.exists()
    assert temporary_uploads and list(small_limit.iterdir()) == []


@pytest.mark.django_db
def test_the_admin_answers_413_when_the_csrf_check_reads_the_upload_first(admin_user, small_limit):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    browser.get(ADMIN_UPLOAD)
    token = browser.cookies["csrftoken"].value

    answer = browser.post(
        ADMIN_UPLOAD,
        {
            "csrfmiddlewaretoken": token,
            "dataset": "uploaded",
            "file": SimpleUploadedFile("big.npz", b"x" * 5000),
        },
    )

    assert answer.status_code == 413 and not Dataset.objects.exists()


@pytest.mark.django_db
def test_a_plain_view_that_reads_the_files_itself_answers_413(client, settings, small_limit):
    settings.ROOT_URLCONF = __name__

    small = client.post("/plain-upload/", {"file": SimpleUploadedFile("a.npz", b"x" * 1000)})
    big = client.post("/plain-upload/", {"file": SimpleUploadedFile("a.npz", b"x" * 1001)})

    assert small.status_code == 200 and small.content == b"1"
    assert big.status_code == 413 and b"over the limit of 1000 bytes" in big.content


def test_the_handler_refuses_the_first_byte_past_the_limit_across_all_files(settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 1000
    handler = LimitedUploadHandler()

    handler.new_file("file", "a.npz", "application/octet-stream", None)
    assert handler.receive_data_chunk(b"x" * 600, 0) == b"x" * 600
    handler.new_file("other", "b.npz", "application/octet-stream", None)
    assert handler.receive_data_chunk(b"x" * 400, 0) == b"x" * 400

    with pytest.raises(PayloadTooLarge, match="over the limit of 1000 bytes"):
        handler.receive_data_chunk(b"x", 400)


class CountingStream(io.BytesIO):
    def __init__(self, content: bytes):
        super().__init__(content)
        self.bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_the_parser_stops_reading_once_the_files_pass_the_limit_and_deletes_them(
    small_limit, temporary_uploads
):
    # The first file is complete (a temporary file) when the second one passes the limit.
    body = encode_multipart(
        BOUNDARY,
        {
            "first": SimpleUploadedFile("a.npz", b"a" * 600),
            "second": SimpleUploadedFile("b.npz", b"b" * 1_000_000),
        },
    )
    stream = CountingStream(body)
    environ = RequestFactory().generic("POST", "/x/", body, MULTIPART_CONTENT).environ
    request = WSGIRequest({**environ, "wsgi.input": stream})

    # Kept, the exception's traceback holds the parser and the file being written: it is gone
    # because it was closed, not because it was collected.
    with pytest.raises(PayloadTooLarge) as refused:
        request.FILES  # noqa: B018 (parses the body)

    assert refused.traceback and stream.bytes_read < len(body) / 4
    assert len(temporary_uploads) == 2 and not any(p.exists() for p in temporary_uploads)
    assert list(small_limit.iterdir()) == []
