"""datasets.sources.url against a real HTTP server on loopback and the test S3 endpoint.

There is no DNS here: where a test needs a host name to resolve to some address it replaces
``socket.getaddrinfo`` for that one name and lets every other lookup through.
"""

import hashlib
import io
import os
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config

from datasets.sources import SourceError, TransientSourceError
from datasets.sources.url import (
    PROGRESS_EVERY,
    UrlPolicy,
    address_kind,
    check_address,
    check_url,
    fetch_url,
    is_s3_url,
)

LOCAL = UrlPolicy(allow_private=True)
PUBLIC_ONLY = UrlPolicy()


def payload(size: int) -> bytes:
    return (bytes(range(251)) * (size // 251 + 1))[:size]


class Handler(BaseHTTPRequestHandler):
    """Routes: /data, /chunked, /nolength (``?size=``), /status/<code>, /redirect?to=&code=,
    /chain/<n> (n relative redirects, then data), /loop (to itself), /slow (answers after 2 s),
    /huge (declares more bytes than it sends, then waits), /echo (the request headers),
    /target/... (the request target as it arrived)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        route, _, arg = parts.path.strip("/").partition("/")
        getattr(self, f"route_{route}")(arg, query)

    def send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route_data(self, _arg, query):
        self.send(200, payload(int(query.get("size", 1000))), Content_Type="text/csv")

    def route_chunked(self, _arg, query):
        body = payload(int(query["size"]))
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(body), 300_000):
            piece = body[start : start + 300_000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def route_nolength(self, _arg, query):
        # No length and no chunking: the body ends when the connection closes.
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload(int(query["size"])))
        self.close_connection = True

    def route_status(self, code, _query):
        self.send(int(code), b"no")

    def route_redirect(self, _arg, query):
        self.send(int(query.get("code", 302)), Location=query["to"])

    def route_chain(self, hops, _query):
        if int(hops) == 0:
            self.route_data("", {"size": "10"})
        else:
            self.send(302, Location=str(int(hops) - 1))  # relative to /chain/

    def route_loop(self, _arg, _query):
        self.send(302, Location="/loop")

    def route_slow(self, _arg, _query):
        time.sleep(2)
        self.send(200, b"late")

    def route_huge(self, _arg, _query):
        self.send_response(200)
        self.send_header("Content-Length", str(10**9))
        self.end_headers()
        self.wfile.write(b"x" * 100)
        time.sleep(2)

    def route_echo(self, _arg, _query):
        body = "\n".join(f"{name}: {value}" for name, value in self.headers.items())
        self.send(200, body.encode())

    def route_target(self, _arg, _query):
        self.send(200, self.path.encode("ascii"))

    def log_message(self, *args):
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that gave up early breaks the pipe: expected here


@pytest.fixture
def server():
    """The base URL (http://127.0.0.1:<port>) of a server running ``Handler``."""
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fake_dns(monkeypatch):
    """Make names resolve to given addresses; every lookup of those names is recorded."""
    answers, lookups, real = {}, [], socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        numeric = kwargs.get("flags", 0) & socket.AI_NUMERICHOST  # parsing only: no DNS asked
        if host not in answers or numeric:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        addresses = answers[host]
        if isinstance(addresses, Exception):
            raise addresses
        if callable(addresses):
            addresses = addresses()
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port),
            )
            for ip in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def fetch(url, policy=LOCAL, **kwargs):
    dest = io.BytesIO()
    result = fetch_url(url, dest, policy=policy, **kwargs)
    assert dest.getvalue() == b"" or result.size == len(dest.getvalue())
    return result, dest.getvalue()


# --- check_url -----------------------------------------------------------------------------


def test_it_returns_the_decoded_file_name():
    assert check_url("https://files.example/a/my%20data.csv?x=1", policy=PUBLIC_ONLY) == (
        "my data.csv"
    )
    assert check_url("s3://team-data/raw/2024/blobs.npz", policy=PUBLIC_ONLY) == "blobs.npz"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://files.example/data.csv",
        "gopher://files.example/",
        "javascript:alert(1)",
        "data:text/csv,a,b",
        "files.example/data.csv",
        "//files.example/data.csv",
    ],
)
def test_it_refuses_schemes_other_than_http_https_and_s3(url):
    with pytest.raises(SourceError, match=r"only http://, https:// and s3:// URLs"):
        check_url(url, policy=LOCAL)


def test_it_refuses_credentials_in_the_url_without_repeating_them():
    with pytest.raises(SourceError, match="user name or password") as caught:
        check_url("https://alice:s3cret@files.example/data.csv", policy=PUBLIC_ONLY)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https:///data.csv", "no host"),
        ("https://files.example:99999/data.csv", "port"),
        ("https://files.example:0/data.csv", "port"),
        ("https://files.example:http/data.csv", "port"),
        ("https://files.example/" + "a" * 2000, "longer than 2000"),
        ("https://files.example/a\nb", "control characters"),
        ("https://files.example/my data.csv", "spaces"),
        ("http://[::1/data.csv", "not valid"),
        ("s3://team-data", "names no object"),
        ("s3://team-data/raw/", "names no object"),
        ("s3:///key.csv", "not an S3 bucket name"),
        ("s3:team-data/key.csv", "not an S3 bucket name"),
        ("s3://Team_Data/key.csv", "not an S3 bucket name"),
        ("s3://user:pw@team-data/key.csv", "not an S3 bucket name"),
    ],
)
def test_it_refuses_malformed_urls(url, message):
    with pytest.raises(SourceError, match=message):
        check_url(url, policy=LOCAL)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/data.csv",
        "http://[::1]/data.csv",
        "http://10.1.2.3/data.csv",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:8000/",
        "http://[::ffff:127.0.0.1]/data.csv",
        "http://2130706433/data.csv",  # 127.0.0.1 written as one number
        "http://0x7f.1/data.csv",
    ],
)
def test_it_refuses_literal_non_public_addresses_at_submit_time(url):
    with pytest.raises(SourceError, match="not a public one"):
        check_url(url, policy=PUBLIC_ONLY)


def test_it_refuses_the_platforms_own_bucket():
    policy = UrlPolicy(forbidden_buckets=frozenset({"hpml-storage"}))
    with pytest.raises(SourceError, match="bucket hpml-storage is the platform's own storage"):
        check_url("s3://hpml-storage/t-1/datasets/abc.npz", policy=policy)


def test_s3_ingestion_is_off_when_no_bucket_is_open():
    policy = UrlPolicy(allowed_buckets=frozenset())
    with pytest.raises(SourceError) as caught:
        check_url("s3://team-data/raw/blobs.csv", policy=policy)
    assert str(caught.value) == (
        "s3:// ingestion is off: the operator lists the buckets it may read in INGEST_S3_BUCKETS"
    )
    assert check_url("https://files.example/blobs.csv", policy=policy) == "blobs.csv"


def test_only_the_listed_buckets_are_open_when_some_are_listed():
    policy = UrlPolicy(allowed_buckets=frozenset({"team-data"}))
    assert check_url("s3://team-data/raw/blobs.csv", policy=policy) == "blobs.csv"
    with pytest.raises(SourceError) as caught:
        check_url("s3://other-team/raw/blobs.csv", policy=policy)
    assert str(caught.value) == (
        "bucket other-team is not open to s3:// ingestion; the operator lists the buckets in "
        "INGEST_S3_BUCKETS"
    )


def test_a_forbidden_bucket_stays_forbidden_even_when_listed():
    policy = UrlPolicy(
        forbidden_buckets=frozenset({"hpml-storage"}),
        allowed_buckets=frozenset({"hpml-storage", "team-data"}),
    )
    with pytest.raises(SourceError, match="bucket hpml-storage is the platform's own storage"):
        check_url("s3://hpml-storage/t-1/datasets/abc.npz", policy=policy)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://team-data/a.csv", True),
        ("S3://team-data/a.csv", True),
        ("s3:team-data/a.csv", True),  # an s3 URL, if a malformed one: check_url refuses it
        ("https://files.example/s3://a.csv", False),
        ("http://[::1/data.csv", False),
    ],
)
def test_is_s3_url_takes_the_scheme_in_any_case(url, expected):
    assert is_s3_url(url) is expected


def test_an_upper_case_scheme_is_checked_like_a_lower_case_one():
    policy = UrlPolicy(forbidden_buckets=frozenset({"hpml-storage"}))
    with pytest.raises(SourceError, match="bucket hpml-storage is the platform's own storage"):
        check_url("S3://hpml-storage/t-1/datasets/abc.npz", policy=policy)
    assert check_url("HTTPS://files.example/a.csv", policy=policy) == "a.csv"


# --- the address checker -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("fc00::1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("2002:a00:1::", "private"),  # 6to4 around 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo, client 10.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ("64:ff9b:1::a00:1", "private"),  # local-use NAT64 around 10.0.0.1
        ("64:ff9b:1::a9fe:a9fe", "cloud metadata"),  # ... and around 169.254.169.254
        ("64:ff9b:1:ab::808:808", "reserved"),  # a longer prefix could carry anything here
        ("100.100.100.200", "cloud metadata"),  # Alibaba Cloud
        ("192.0.0.192", "cloud metadata"),  # Oracle Cloud
    ],
)
def test_it_knows_each_kind_of_non_public_address(ip, kind):
    import ipaddress

    assert address_kind(ipaddress.ip_address(ip)) == kind
    with pytest.raises(SourceError, match="not a public one"):
        check_address(ip, policy=PUBLIC_ONLY)


@pytest.mark.parametrize(
    "ip", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b:1::808:808"]
)
def test_it_passes_public_addresses(ip):
    check_address(ip, policy=PUBLIC_ONLY)


def test_allowing_private_addresses_opens_loopback_and_private_ranges_only():
    for ip in ["127.0.0.1", "10.0.0.1", "192.168.0.9", "::1", "fc00::1"]:
        check_address(ip, policy=LOCAL)
    for ip in ["169.254.169.254", "169.254.1.1", "0.0.0.0", "224.0.0.1", "240.0.0.1"]:
        with pytest.raises(SourceError, match="never fetched, even with INGEST_URL_ALLOW_PRIVATE"):
            check_address(ip, policy=LOCAL)
    for ip in ["100.100.100.200", "192.0.0.192", "64:ff9b:1::a9fe:a9fe"]:  # metadata too
        with pytest.raises(SourceError, match="never fetched, even with INGEST_URL_ALLOW_PRIVATE"):
            check_address(ip, policy=LOCAL)


def test_the_refusal_names_the_host_and_the_setting():
    with pytest.raises(SourceError) as caught:
        check_address("10.0.0.7", policy=PUBLIC_ONLY, host="intranet.example")
    assert str(caught.value) == (
        "intranet.example resolves to 10.0.0.7, a private address, not a public one; "
        "the operator can set INGEST_URL_ALLOW_PRIVATE to fetch on-premise data"
    )


# --- fetching over http --------------------------------------------------------------------


def test_it_streams_the_file_hashing_and_counting(server):
    progress = []
    result, body = fetch(f"{server}/data?size=9437184", progress=lambda *a: progress.append(a))
    expected = payload(9437184)
    assert body == expected
    assert result.sha256 == hashlib.sha256(expected).hexdigest()
    assert result.size == 9437184
    assert result.content_type == "text/csv"
    assert result.final_url == f"{server}/data?size=9437184"
    assert [done for done, _total in progress] == [PROGRESS_EVERY, 2 * PROGRESS_EVERY, 9437184]
    assert {total for _done, total in progress} == {9437184}


def test_it_sends_a_non_ascii_path_and_query_as_utf8_escapes(server):
    url = f"{server}/target/données.csv?q=été&kept=a%20b&k=v/w?x"
    assert check_url(url, policy=LOCAL) == "données.csv"
    _result, body = fetch(url)
    assert body == b"/target/donn%C3%A9es.csv?q=%C3%A9t%C3%A9&kept=a%20b&k=v/w?x"


def test_an_upper_case_http_scheme_is_fetched_and_reported_in_lower_case(server):
    result, _body = fetch(server.replace("http://", "HTTP://") + "/data?size=10")
    assert result.final_url == f"{server}/data?size=10"


@pytest.mark.parametrize("route", ["chunked", "nolength"])
def test_it_reads_bodies_of_unknown_length(server, route):
    progress = []
    result, body = fetch(f"{server}/{route}?size=1000000", progress=lambda *a: progress.append(a))
    assert body == payload(1000000)
    assert result.sha256 == hashlib.sha256(payload(1000000)).hexdigest()
    assert progress == [(1000000, None)]


def test_it_sends_its_name_and_asks_for_uncompressed_bytes(server):
    _result, body = fetch(f"{server}/echo")
    headers = dict(line.split(": ", 1) for line in body.decode().splitlines())
    assert headers["User-Agent"] == "hpml-portal"
    assert headers["Accept-Encoding"] == "identity"
    assert headers["Host"] == server.removeprefix("http://")


def test_it_refuses_loopback_servers_unless_private_addresses_are_allowed(server):
    with pytest.raises(SourceError, match="127.0.0.1 is a loopback address, not a public one"):
        fetch(f"{server}/data", policy=PUBLIC_ONLY)


def test_it_refuses_a_name_that_resolves_to_loopback(server, fake_dns):
    answers, _lookups = fake_dns
    answers["files.example"] = ["127.0.0.1"]
    port = urlsplit(server).port
    with pytest.raises(SourceError, match="files.example resolves to 127.0.0.1, a loopback"):
        fetch(f"http://files.example:{port}/data", policy=PUBLIC_ONLY)


def test_localhost_is_refused_by_its_address(server):
    port = urlsplit(server).port
    with pytest.raises(SourceError, match="localhost resolves to .*loopback"):
        fetch(f"http://localhost:{port}/data", policy=PUBLIC_ONLY)


def test_one_private_answer_among_public_ones_refuses_the_host(fake_dns):
    answers, _lookups = fake_dns
    answers["mixed.example"] = ["93.184.215.14", "10.0.0.5"]
    with pytest.raises(SourceError, match="mixed.example resolves to 10.0.0.5, a private"):
        fetch("http://mixed.example/data.csv", policy=PUBLIC_ONLY)


def test_it_connects_to_the_address_it_checked_without_a_second_lookup(server, fake_dns):
    # A rebinding name: the first answer is the one checked, later answers point elsewhere.
    answers, lookups = fake_dns
    later = iter([["127.0.0.1"]] + [["10.255.255.1"]] * 5)
    answers["rebind.example"] = lambda: next(later)
    port = urlsplit(server).port
    result, body = fetch(f"http://rebind.example:{port}/echo")
    assert lookups == ["rebind.example"]
    assert f"Host: rebind.example:{port}" in body.decode()
    assert result.final_url == f"http://rebind.example:{port}/echo"


def test_it_tries_the_next_checked_address_when_one_refuses(server, fake_dns):
    answers, _lookups = fake_dns
    answers["two.example"] = ["127.0.0.2", "127.0.0.1"]  # the server listens on the second
    port = urlsplit(server).port
    _result, body = fetch(f"http://two.example:{port}/data?size=7")
    assert body == payload(7)


def test_it_says_when_a_name_does_not_resolve(fake_dns):
    answers, _lookups = fake_dns
    answers["nowhere.example"] = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    answers["flaky.example"] = socket.gaierror(socket.EAI_AGAIN, "Temporary failure")
    with pytest.raises(SourceError, match="cannot resolve host nowhere.example"):
        fetch("https://nowhere.example/data.csv", policy=PUBLIC_ONLY)
    with pytest.raises(TransientSourceError, match="cannot resolve host flaky.example"):
        fetch("https://flaky.example/data.csv", policy=PUBLIC_ONLY)


def test_it_follows_redirects_within_the_limit(server):
    result, body = fetch(f"{server}/chain/3")
    assert body == payload(10)
    assert result.final_url == f"{server}/chain/0"


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_it_follows_each_redirect_status(server, code):
    result, _body = fetch(f"{server}/redirect?code={code}&to=/data%3Fsize%3D5")
    assert result.size == 5
    assert result.final_url == f"{server}/data?size=5"


def test_it_stops_after_too_many_redirects(server):
    with pytest.raises(SourceError, match="too many redirects: .* more than 3 times"):
        fetch(f"{server}/chain/4")
    with pytest.raises(SourceError, match="too many redirects"):
        fetch(
            f"{server}/redirect?to=/redirect%3Fto%3D/data",
            policy=UrlPolicy(allow_private=True, max_redirects=1),
        )


def test_it_stops_a_redirect_loop(server):
    with pytest.raises(SourceError, match="too many redirects"):
        fetch(f"{server}/loop")


@pytest.mark.parametrize(
    ("target", "scheme"),
    [("file:///etc/passwd", "file"), ("s3://team-data/key.csv", "s3"), ("ftp://x.example/", "ftp")],
)
def test_it_refuses_redirects_to_other_schemes(server, target, scheme):
    with pytest.raises(SourceError, match=f"redirects to a {scheme}: URL; only http"):
        fetch(f"{server}/redirect?to={target}")


def test_it_refuses_a_redirect_to_the_metadata_address_before_connecting(server):
    # Even with private addresses allowed (the first hop is this loopback server), the hop is
    # checked again; no connection is tried, or it would hang on the unroutable address.
    started = time.monotonic()
    with pytest.raises(SourceError, match="169.254.169.254 is a cloud metadata address"):
        fetch(f"{server}/redirect?to=http://169.254.169.254/latest/meta-data/")
    assert time.monotonic() - started < 2


def test_it_resolves_and_checks_every_redirect_hop(server, fake_dns):
    answers, lookups = fake_dns
    answers["evil.example"] = ["169.254.169.254"]
    with pytest.raises(SourceError) as caught:
        fetch(f"{server}/redirect?to=http://evil.example/creds")
    assert lookups == ["evil.example"]
    assert str(caught.value).startswith(
        "evil.example resolves to 169.254.169.254, a cloud metadata address, not a public one"
    )
    assert f"reached by a redirect from {server}/redirect?..." in str(caught.value)


def test_it_refuses_a_redirect_to_a_url_with_credentials(server):
    with pytest.raises(SourceError, match="refused: the URL carries a user name") as caught:
        fetch(f"{server}/redirect?to=http://bob:hunter2@files.example/")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("code", [404, 410, 403, 401, 400])
def test_client_errors_are_permanent(server, code):
    with pytest.raises(SourceError, match=f"the server answered {code} .* for {server}/status"):
        fetch(f"{server}/status/{code}")


def test_the_answer_404_reads_well(server):
    with pytest.raises(SourceError) as caught:
        fetch(f"{server}/status/404?token=secret")
    assert str(caught.value) == f"the server answered 404 Not Found for {server}/status/404?..."


@pytest.mark.parametrize("code", [500, 502, 503])
def test_server_errors_are_transient(server, code):
    with pytest.raises(TransientSourceError, match=f"the server answered {code}"):
        fetch(f"{server}/status/{code}")


def test_a_refused_connection_is_transient():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientSourceError, match="127.0.0.1 refused the connection"):
        fetch(f"http://127.0.0.1:{port}/data")


def test_a_slow_server_times_out_quickly(server):
    started = time.monotonic()
    with pytest.raises(TransientSourceError, match="no answer from 127.0.0.1 within 0.5s"):
        fetch(f"{server}/slow", policy=UrlPolicy(allow_private=True, read_timeout=0.5))
    assert time.monotonic() - started < 1.5


def test_it_refuses_a_body_declared_too_large_before_reading_it(server):
    started, dest = time.monotonic(), io.BytesIO()
    with pytest.raises(SourceError, match="is larger than the limit of 1000 bytes"):
        fetch_url(f"{server}/huge", dest, policy=UrlPolicy(allow_private=True, max_bytes=1000))
    assert dest.getvalue() == b""
    assert time.monotonic() - started < 1  # the server holds the body back for 2 s


@pytest.mark.parametrize("route", ["chunked", "nolength"])
def test_it_stops_reading_once_past_the_limit(server, route):
    dest = io.BytesIO()
    policy = UrlPolicy(allow_private=True, max_bytes=1_500_000)
    with pytest.raises(SourceError, match="larger than the limit of 1500000 bytes"):
        fetch_url(f"{server}/{route}?size=50000000", dest, policy=policy)
    assert len(dest.getvalue()) <= 1_500_000


def test_an_untrusted_certificate_is_refused(tmp_path):
    import ssl
    import subprocess

    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            tmp_path / "key.pem",
            "-out",
            tmp_path / "cert.pem",
        ],
        check=True,
        capture_output=True,
    )
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with pytest.raises(SourceError, match="the certificate of 127.0.0.1 is not valid"):
            fetch(f"https://127.0.0.1:{httpd.server_address[1]}/data")
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- s3 ------------------------------------------------------------------------------------


@pytest.fixture
def s3():
    """A client for the test S3 endpoint and a bucket of its own, emptied and removed after."""
    client = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ.get("AWS_S3_REGION_NAME", "us-east-1"),
    )
    bucket = f"hpml-url-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield client, bucket
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    client.delete_bucket(Bucket=bucket)


def test_it_fetches_an_s3_object(s3):
    client, bucket = s3
    content = payload(3_000_000)
    client.put_object(Bucket=bucket, Key="raw/blobs.csv", Body=content, ContentType="text/csv")
    progress = []
    result, body = fetch(
        f"s3://{bucket}/raw/blobs.csv", s3_client=client, progress=lambda *a: progress.append(a)
    )
    assert body == content
    assert result.sha256 == hashlib.sha256(content).hexdigest()
    assert result.size == 3_000_000
    assert result.content_type == "text/csv"
    assert result.final_url == f"s3://{bucket}/raw/blobs.csv"
    assert progress == [(3_000_000, 3_000_000)]


def test_it_takes_s3_keys_literally(s3):
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="odd/a b?c#d.csv", Body=b"1,2\n")
    result, body = fetch(f"s3://{bucket}/odd/a b?c#d.csv", s3_client=client)
    assert body == b"1,2\n"
    assert check_url(f"s3://{bucket}/odd/a b?c#d.csv", policy=LOCAL) == "a b?c#d.csv"


def test_it_refuses_the_platforms_storage_bucket(s3):
    client, _bucket = s3
    storage = os.environ["AWS_STORAGE_BUCKET_NAME"]
    policy = UrlPolicy(forbidden_buckets=frozenset({storage}))
    client.put_object(Bucket=storage, Key="t-url-test/secret.csv", Body=b"other team's data")
    try:
        with pytest.raises(SourceError, match=f"bucket {storage} is the platform's own storage"):
            fetch(f"s3://{storage}/t-url-test/secret.csv", policy=policy, s3_client=client)
    finally:
        client.delete_object(Bucket=storage, Key="t-url-test/secret.csv")


def test_it_fetches_from_a_listed_bucket_named_with_an_upper_case_scheme(s3):
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="raw/blobs.csv", Body=b"a,label\n1,0\n")
    policy = UrlPolicy(allowed_buckets=frozenset({bucket}))
    result, body = fetch(f"S3://{bucket}/raw/blobs.csv", policy=policy, s3_client=client)
    assert body == b"a,label\n1,0\n"
    assert result.final_url == f"s3://{bucket}/raw/blobs.csv"


def test_a_missing_s3_object_or_bucket_is_permanent(s3):
    client, bucket = s3
    with pytest.raises(SourceError, match=f"no object s3://{bucket}/missing.csv"):
        fetch(f"s3://{bucket}/missing.csv", s3_client=client)
    with pytest.raises(SourceError, match="no object s3://hpml-no-such-bucket-"):
        fetch(f"s3://hpml-no-such-bucket-{uuid.uuid4().hex[:8]}/a.csv", s3_client=client)


def test_an_s3_object_over_the_limit_is_refused_before_download(s3, monkeypatch):
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="big.csv", Body=payload(5000))
    downloads = []
    monkeypatch.setattr(client, "get_object", lambda **kw: downloads.append(kw))
    policy = UrlPolicy(max_bytes=4999)
    with pytest.raises(SourceError, match=f"s3://{bucket}/big.csv is larger than the limit"):
        fetch(f"s3://{bucket}/big.csv", policy=policy, s3_client=client)
    assert downloads == []


def test_an_unreachable_s3_endpoint_is_transient():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(TransientSourceError, match="the object store failed"):
        fetch("s3://team-data/a.csv", s3_client=client)
