"""Fetch a dataset file from an http, https or s3 URL into a local file, hashing as it streams.

Plain Python: the caller passes its settings in a ``UrlPolicy`` and, for s3, a boto3 client made
with the platform's endpoint and credentials.

The danger is server-side request forgery: a URL, or a redirect, that points the portal at its
own network. Each hop's host is resolved once, every address it resolves to is checked, and the
connection is opened to the checked address, so a DNS answer that changes between the check and
the connection (rebinding) cannot slip a private address in.
"""

import hashlib
import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit, urlunsplit

from botocore.exceptions import BotoCoreError, ClientError

from datasets.sources import SourceError, TransientSourceError

ALLOWED_SCHEMES = ("http", "https", "s3")
CHUNK_SIZE = 1024 * 1024
PROGRESS_EVERY = 4 * CHUNK_SIZE
MAX_URL_LENGTH = 2000
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Identity encoding, so the size limit counts the bytes stored, not compressed ones.
HEADERS = {"User-Agent": "hpml-portal", "Accept-Encoding": "identity"}

# Refused even when private addresses are allowed: the cloud metadata service hands out the
# machine's credentials, and no on-premise file is served from the other kinds.
_NEVER = frozenset({"cloud metadata", "unspecified", "link-local", "multicast", "reserved"})
# AWS, GCP and Azure (and their IPv6 one), Alibaba Cloud, Oracle Cloud.
_METADATA = frozenset(
    map(
        ipaddress.ip_address,
        ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"],
    )
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # Linux connects 0.x.x.x to the machine itself
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: neither private nor public
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: the IPv4 address ends it
# Local-use NAT64 (RFC 8215) also takes prefixes of /48 to /64, which carry the IPv4 address in
# the middle bits; only in this /96 can the last 32 bits be nothing else.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_LOCAL_NAT64_96 = ipaddress.ip_network("64:ff9b:1::/96")
# Kept in the request line as they are: reserved characters, and '%' so that escapes already in
# the URL are not escaped twice. Anything else (non-ASCII above all) is sent as UTF-8 escapes.
_PATH_SAFE = "/%:@!$&'()*+,;=~"
_QUERY_SAFE = _PATH_SAFE + "?"
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class UrlPolicy:
    allow_private: bool = False  # INGEST_URL_ALLOW_PRIVATE
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # the longest wait for any one read
    max_bytes: int = 2 * 1024**3
    max_redirects: int = 3
    # Never read: the platform's own bucket holds every team's data.
    forbidden_buckets: frozenset[str] = frozenset()
    # INGEST_S3_BUCKETS: None, any bucket not forbidden; else only these (none: s3:// is off).
    allowed_buckets: frozenset[str] | None = None


@dataclass(frozen=True)
class FetchResult:
    sha256: str
    size: int
    final_url: str
    content_type: str


def check_url(url: str, *, policy: UrlPolicy) -> str:
    """Check a URL without touching the network (names are resolved and checked by
    ``fetch_url``, on every hop); return its file name, ``data.csv``."""
    parts = _split(url)
    if is_s3_url(url):
        return _s3_location(url, policy)[1].rsplit("/", 1)[-1]
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


def check_address(ip: str | Address, *, policy: UrlPolicy, host: str | None = None) -> None:
    """Raise ``SourceError`` unless ``ip`` is public, or private and the policy allows that."""
    ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    kind = address_kind(ip)
    if kind is None or (policy.allow_private and kind not in _NEVER):
        return
    article = "an" if kind[0] in "aeiou" else "a"
    subject = f"{host} resolves to {ip}," if host and host != str(ip) else f"{ip} is"
    if kind in _NEVER:
        remedy = "it is never fetched, even with INGEST_URL_ALLOW_PRIVATE"
    else:
        remedy = "the operator can set INGEST_URL_ALLOW_PRIVATE to fetch on-premise data"
    raise SourceError(f"{subject} {article} {kind} address, not a public one; {remedy}")


def address_kind(ip: Address) -> str | None:
    """The kind of non-public address ``ip`` is ("loopback", "private", ...); None if public."""
    if ip in _METADATA:
        return "cloud metadata"
    if ip.version == 6:
        # Mapped, NAT64, 6to4 and Teredo addresses lead to the IPv4 addresses they carry.
        nat64 = None
        if ip in _NAT64 or ip in _LOCAL_NAT64:
            nat64 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        for inner in (ip.ipv4_mapped, nat64, ip.sixtofour, *(ip.teredo or ())):
            if inner is not None and (kind := address_kind(inner)) is not None:
                return kind
        # Public when what it carries is; the rest of the local-use block stays reserved.
        if ip.ipv4_mapped or ip in _NAT64 or ip in _LOCAL_NAT64_96:
            return None
    checks = [
        ("unspecified", ip.is_unspecified or ip in _THIS_NETWORK),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private or ip in _SHARED or not ip.is_global),
    ]
    return next((kind for kind, matches in checks if matches), None)


def fetch_url(
    url: str,
    dest: BinaryIO,
    *,
    policy: UrlPolicy,
    progress: Callable[[int, int | None], None] | None = None,
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
        return _fetch_s3(url, dest, policy=policy, progress=progress, client=s3_client)
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


def _shown(url: str) -> str:
    """The URL as messages may show it: no credentials, and no query (signed URLs keep theirs
    there)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "..." if parts.query else "", ""))


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
            raise SourceError(f"{exc} (reached by a redirect from {_shown(first)})") from exc
        try:
            if response.status not in REDIRECT_STATUSES:
                _check_status(url, response)
                return _stream_http(url, response, dest, policy=policy, progress=progress)
            if hops == policy.max_redirects:
                raise SourceError(
                    f"too many redirects: {_shown(first)} redirects more than "
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
    answer = f"the server answered {response.status} {response.reason} for {_shown(url)}"
    if response.status >= 500:
        raise TransientSourceError(answer)
    raise SourceError(answer)


def _redirect_target(url: str, response, policy: UrlPolicy) -> str:
    location = (response.getheader("Location") or "").strip()
    if not location:
        raise SourceError(f"{_shown(url)} redirects ({response.status}) without saying where")
    try:
        target = urljoin(url, location)
    except ValueError as exc:
        raise SourceError(f"{_shown(url)} redirects to an invalid URL") from exc
    scheme = target.partition(":")[0].lower()
    if scheme not in ("http", "https"):
        raise SourceError(f"{_shown(url)} redirects to a {scheme}: URL; only http(s) is followed")
    try:
        check_url(target, policy=policy)
    except SourceError as exc:
        raise SourceError(f"{_shown(url)} redirects to a URL that is refused: {exc}") from exc
    return target


def _stream_http(url, response, dest, *, policy, progress) -> FetchResult:
    host = urlsplit(url).hostname
    total = response.length  # Content-Length, or None when absent or chunked
    if total is not None and total > policy.max_bytes:
        raise SourceError(_too_large(url, policy))
    sha256, size = _copy(_http_body(response, host, policy), dest, total, policy, progress, url)
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


def _copy(chunks: Iterable[bytes], dest, total, policy, progress, url) -> tuple[str, int]:
    """Write ``chunks`` to ``dest``; return (sha256, size). Stops as soon as the limit passes."""
    digest, size, reported = hashlib.sha256(), 0, 0
    for chunk in chunks:
        size += len(chunk)
        if size > policy.max_bytes:
            raise SourceError(_too_large(url, policy))
        digest.update(chunk)
        dest.write(chunk)
        if progress is not None and size - reported >= PROGRESS_EVERY:
            progress(size, total)
            reported = size
    if progress is not None:
        progress(size, total)
    return digest.hexdigest(), size


def _too_large(url: str, policy: UrlPolicy) -> str:
    return f"{_shown(url)} is larger than the limit of {policy.max_bytes} bytes"


def _s3_location(url: str, policy: UrlPolicy) -> tuple[str, str]:
    if policy.allowed_buckets is not None and not policy.allowed_buckets:
        raise SourceError(
            "s3:// ingestion is off: the operator lists the buckets it may read in "
            "INGEST_S3_BUCKETS"
        )
    # Taken literally, as the AWS CLI does: keys may hold '?', '#' and '%'.
    _scheme, slashes, rest = url.partition("://")
    bucket, _, key = rest.partition("/")
    if not slashes or not _S3_BUCKET.fullmatch(bucket):
        raise SourceError(f"{bucket!r} is not an S3 bucket name; write s3://bucket/key")
    if not key or key.endswith("/"):
        raise SourceError(f"{url} names no object; write s3://bucket/key")
    if bucket in policy.forbidden_buckets:
        raise SourceError(
            f"bucket {bucket} is the platform's own storage; ingest from another bucket"
        )
    if policy.allowed_buckets is not None and bucket not in policy.allowed_buckets:
        raise SourceError(
            f"bucket {bucket} is not open to s3:// ingestion; the operator lists the buckets "
            "in INGEST_S3_BUCKETS"
        )
    return bucket, key


def _fetch_s3(url, dest, *, policy, progress, client) -> FetchResult:
    bucket, key = _s3_location(url, policy)
    with _s3_errors(url):
        head = client.head_object(Bucket=bucket, Key=key)
        total = head["ContentLength"]
        if total > policy.max_bytes:
            raise SourceError(_too_large(url, policy))
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            sha256, size = _copy(body.iter_chunks(CHUNK_SIZE), dest, total, policy, progress, url)
        finally:
            body.close()
    content_type = head.get("ContentType", "")
    return FetchResult(sha256=sha256, size=size, final_url=url, content_type=content_type)


@contextmanager
def _s3_errors(url: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        raise _s3_answer(url, exc) from exc
    except BotoCoreError as exc:  # endpoint unreachable, timeouts, a stream broken off
        raise TransientSourceError(f"the object store failed while reading {url}: {exc}") from exc


def _s3_answer(url: str, exc: ClientError) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
        return SourceError(f"no object {url}")
    if status == 403 or code in ("403", "AccessDenied"):
        return SourceError(f"the platform's credentials may not read {url} (access denied)")
    if status >= 500:
        return TransientSourceError(f"the object store answered {status} {code} for {url}")
    return SourceError(f"the object store refused {url}: {code or status}")
