"""Fetch a dataset file from an http, https or s3 URL into a local file, hashing as it streams:
the public entry points (``check_url``, ``fetch_url``) and the http(s) fetcher, with s3 in
``datasets.sources.s3``, address checks in ``datasets.sources.addresses`` and the shared pieces in
``datasets.sources.common``, all re-exported here. Plain Python: the caller passes its settings in
a ``UrlPolicy`` and, for s3, a boto3 client made with the platform's endpoint and credentials. The
danger is server-side request forgery, a URL or redirect that points the portal at its own
network: each hop's host is resolved once, every address it resolves to is checked, and the
connection is opened to the checked address, so a DNS answer that changes between the check and
the connection (rebinding) cannot slip a private address in.
"""

import http.client
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit

from datasets.sources import SourceError, TransientSourceError
from datasets.sources.addresses import address_kind, check_address
from datasets.sources.common import (
    CHUNK_SIZE,
    PROGRESS_EVERY,
    FetchResult,
    Progress,
    UrlPolicy,
    copy_chunks,
    shown,
    too_large,
)
from datasets.sources.s3 import fetch_s3, s3_location

__all__ = [
    "ALLOWED_SCHEMES",
    "CHUNK_SIZE",
    "MAX_URL_LENGTH",
    "PROGRESS_EVERY",
    "FetchResult",
    "UrlPolicy",
    "address_kind",
    "check_address",
    "check_url",
    "fetch_url",
    "is_s3_url",
]

ALLOWED_SCHEMES = ("http", "https", "s3")
MAX_URL_LENGTH = 2000
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Identity encoding, so the size limit counts the bytes stored, not compressed ones.
HEADERS = {"User-Agent": "hpml-portal", "Accept-Encoding": "identity"}

# Kept in the request line as they are: reserved characters, and '%' so that escapes already in
# the URL are not escaped twice. Anything else (non-ASCII above all) is sent as UTF-8 escapes.
_PATH_SAFE = "/%:@!$&'()*+,;=~"
_QUERY_SAFE = _PATH_SAFE + "?"


def check_url(url: str, *, policy: UrlPolicy) -> str:
    """Check a URL without touching the network (names are resolved and checked by
    ``fetch_url``, on every hop); return its file name, ``data.csv``."""
    parts = _split(url)
    if is_s3_url(url):
        return s3_location(url, policy)[1].rsplit("/", 1)[-1]
    host, _port = _http_host(parts)
    if " " in url:
        raise SourceError("the URL contains spaces; write them as %20")
    literal = _literal_ip(host)
    if literal is not None:
        check_address(literal, policy=policy)
    return unquote(parts.path.rsplit("/", 1)[-1])


def is_s3_url(url: str) -> bool:
    """Whether ``url`` is an s3:// URL; schemes are case-insensitive, so S3:// is one too."""
    try:
        return urlsplit(url).scheme == "s3"  # urlsplit lowercases the scheme
    except ValueError:
        return False


def fetch_url(
    url: str,
    dest: BinaryIO,
    *,
    policy: UrlPolicy,
    progress: Progress | None = None,
    s3_client=None,
) -> FetchResult:
    """Stream the file at ``url`` into ``dest``, hashing and counting; follow http redirects.

    Raises ``SourceError`` (never worth retrying) or ``TransientSourceError``. On an error
    ``dest`` may hold part of the file: the caller throws it away.
    """
    check_url(url, policy=policy)
    url = _lower_scheme(url)
    if is_s3_url(url):
        if s3_client is None:
            raise TypeError("fetching an s3:// URL needs s3_client")
        return fetch_s3(url, dest, policy=policy, progress=progress, client=s3_client)
    return _fetch_http(url, dest, policy=policy, progress=progress)


def _lower_scheme(url: str) -> str:
    scheme, colon, rest = url.partition(":")
    return scheme.lower() + colon + rest


def _split(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise SourceError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise SourceError("the URL contains control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise SourceError(f"the URL is not valid: {exc}") from exc
    if parts.scheme not in ALLOWED_SCHEMES:
        given = f"{parts.scheme}:" if parts.scheme else "a URL without a scheme"
        raise SourceError(f"only http://, https:// and s3:// URLs can be fetched, not {given}")
    return parts


def _http_host(parts: SplitResult) -> tuple[str, int]:
    # A password in the URL would be stored with the dataset and shown to everyone who reads it.
    if "@" in parts.netloc:
        raise SourceError("the URL carries a user name or password; credentials are not accepted")
    if not parts.hostname:
        raise SourceError("the URL has no host")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise SourceError("the URL's port is not a number from 1 to 65535")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _literal_ip(host: str) -> str | None:
    # Parsed as the resolver does, never asking DNS: it also takes 2130706433, 0x7f.1, 127.1.
    try:
        return socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)[0][4][0]
    except (socket.gaierror, UnicodeError):
        return None


class _PinnedConnection(http.client.HTTPConnection):
    """Connects to an address already checked, never looking the host name up again; the Host
    header still carries the name (and the port when not the default) from the URL."""

    def __init__(self, host: str, port: int, *, address: str, tls: bool, policy: UrlPolicy):
        self.default_port, self._tls = (443, True) if tls else (80, False)
        super().__init__(host, port, timeout=policy.connect_timeout)
        self._address, self._read_timeout = address, policy.read_timeout

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        if self._tls:
            # The certificate is checked against the name in the URL, not the address dialled.
            context = ssl.create_default_context()
            self.sock = context.wrap_socket(self.sock, server_hostname=self.host)
        self.sock.settimeout(self._read_timeout)


@contextmanager
def _network_errors(host: str, timeout: float) -> Iterator[None]:
    """Socket and HTTP failures as readable errors, transient where trying again may help."""
    try:
        yield
    except TimeoutError as exc:
        raise TransientSourceError(f"no answer from {host} within {timeout:g}s") from exc
    except ssl.SSLCertVerificationError as exc:
        raise SourceError(f"the certificate of {host} is not valid: {exc.verify_message}") from exc
    except ConnectionRefusedError as exc:
        raise TransientSourceError(f"{host} refused the connection") from exc
    except OSError as exc:
        raise TransientSourceError(
            f"the connection to {host} failed: {exc.strerror or exc}"
        ) from exc
    except http.client.IncompleteRead as exc:
        raise TransientSourceError(f"{host} closed the connection mid-file") from exc
    except http.client.HTTPException as exc:
        raise SourceError(f"{host} did not answer in HTTP ({type(exc).__name__})") from exc


def _fetch_http(url, dest, *, policy, progress) -> FetchResult:
    first, hops = url, 0
    while True:
        try:
            conn, response = _open(url, policy)
        except SourceError as exc:
            if hops == 0:
                raise
            raise SourceError(f"{exc} (reached by a redirect from {shown(first)})") from exc
        try:
            if response.status not in REDIRECT_STATUSES:
                _check_status(url, response)
                return _stream_http(url, response, dest, policy=policy, progress=progress)
            if hops == policy.max_redirects:
                raise SourceError(
                    f"too many redirects: {shown(first)} redirects more than "
                    f"{policy.max_redirects} times"
                )
            url, hops = _redirect_target(url, response, policy), hops + 1
        finally:
            conn.close()


def _open(url: str, policy: UrlPolicy) -> tuple[http.client.HTTPConnection, object]:
    """Resolve, check and connect (every hop goes through here), then send the request."""
    parts = urlsplit(url)
    host, port = _http_host(parts)
    conn = _connect(parts.scheme, host, port, _resolve(host, port, policy), policy)
    target = _request_target(parts)
    try:
        with _network_errors(host, policy.read_timeout):
            conn.request("GET", target, headers=HEADERS)
            return conn, conn.getresponse()
    except BaseException:
        conn.close()
        raise


def _request_target(parts: SplitResult) -> str:
    """Path and query as the request line sends them: http.client writes it in ASCII."""
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    return f"{path}?{query}" if query else path


def _resolve(host: str, port: int, policy: UrlPolicy) -> list[str]:
    """Every address ``host`` resolves to, each checked: one bad answer refuses the host."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise TransientSourceError(f"cannot resolve host {host}: no answer from DNS") from exc
        raise SourceError(f"cannot resolve host {host}") from exc
    except UnicodeError as exc:
        raise SourceError(f"{host!r} is not a valid host name") from exc
    addresses = list(dict.fromkeys(answer[4][0] for answer in answers))
    for address in addresses:
        check_address(address, policy=policy, host=host)
    return addresses


def _connect(scheme, host, port, addresses, policy) -> http.client.HTTPConnection:
    # Try each checked address in turn, as socket.create_connection would with the name.
    for address in addresses:
        conn = _PinnedConnection(host, port, address=address, tls=scheme == "https", policy=policy)
        try:
            with _network_errors(host, policy.connect_timeout):
                conn.connect()
            return conn
        except TransientSourceError as exc:
            conn.close()
            error = exc
        except BaseException:
            conn.close()
            raise
    raise error


def _check_status(url: str, response) -> None:
    if 200 <= response.status < 300:
        return
    answer = f"the server answered {response.status} {response.reason} for {shown(url)}"
    if response.status >= 500:
        raise TransientSourceError(answer)
    raise SourceError(answer)


def _redirect_target(url: str, response, policy: UrlPolicy) -> str:
    location = (response.getheader("Location") or "").strip()
    if not location:
        raise SourceError(f"{shown(url)} redirects ({response.status}) without saying where")
    try:
        target = urljoin(url, location)
    except ValueError as exc:
        raise SourceError(f"{shown(url)} redirects to an invalid URL") from exc
    scheme = target.partition(":")[0].lower()
    if scheme not in ("http", "https"):
        raise SourceError(f"{shown(url)} redirects to a {scheme}: URL; only http(s) is followed")
    try:
        check_url(target, policy=policy)
    except SourceError as exc:
        raise SourceError(f"{shown(url)} redirects to a URL that is refused: {exc}") from exc
    return target


def _stream_http(url, response, dest, *, policy, progress) -> FetchResult:
    host = urlsplit(url).hostname
    total = response.length  # Content-Length, or None when absent or chunked
    if total is not None and total > policy.max_bytes:
        raise SourceError(too_large(url, policy))
    sha256, size = copy_chunks(
        _http_body(response, host, policy), dest, total, policy, progress, url
    )
    if total is not None and size < total:
        raise TransientSourceError(f"{host} closed the connection after {size} of {total} bytes")
    content_type = response.getheader("Content-Type", "")
    return FetchResult(sha256=sha256, size=size, final_url=url, content_type=content_type)


def _http_body(response, host: str, policy: UrlPolicy) -> Iterator[bytes]:
    while True:
        with _network_errors(host, policy.read_timeout):
            chunk = response.read(CHUNK_SIZE)
        if not chunk:
            return
        yield chunk
