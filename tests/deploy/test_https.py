"""Behind the Ingress the portal is HTTPS only, yet probes and local runs keep plain http."""

import os

import pytest
from django.test import Client, override_settings

from tests.deploy.manifests import applied_documents
from tests.deploy.production import production_environment, run_python, settings_under

SECURITY_SETTINGS = [
    "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
]
PLAIN_HTTP_SETTINGS = [
    name for name in SECURITY_SETTINGS if name not in {"ALLOWED_HOSTS", "SECURE_REDIRECT_EXEMPT"}
]


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> dict:
    """The security settings a web pod runs with, as overrides for the test client."""
    values = settings_under(
        production_environment(tmp_path_factory.mktemp("pod")), SECURITY_SETTINGS
    )
    if values["SECURE_PROXY_SSL_HEADER"] is not None:
        values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


def probe_paths() -> set[str]:
    (web,) = [
        d
        for d in applied_documents()
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "web"
    ]
    (container,) = web["spec"]["template"]["spec"]["containers"]
    return {container[kind]["httpGet"]["path"] for kind in container if kind.endswith("Probe")}


def test_the_production_configuration_passes_djangos_deployment_checks(tmp_path):
    environment = production_environment(tmp_path)
    result = run_python(environment, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output and "ERRORS" not in output, output
    assert "System check identified no issues (0 silenced)" in result.stdout, output


def test_the_production_configuration_redirects_to_https_behind_the_tls_proxy(production):
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert production["SECURE_HSTS_SECONDS"] >= 3600
    assert production["SESSION_COOKIE_SECURE"] and production["CSRF_COOKIE_SECURE"]


@pytest.mark.django_db
def test_probes_and_scrapes_answer_plain_http_while_pages_redirect_to_https(production):
    paths = probe_paths()
    assert {"/healthz", "/readyz"} <= paths
    with override_settings(**production):
        client = Client()
        for path in sorted(paths | {"/metrics"}):
            response = client.get(path, HTTP_HOST="localhost")
            assert response.status_code != 301, f"{path} redirects the kubelet to https"
        assert client.get("/healthz", HTTP_HOST="localhost").status_code == 200
        page = client.get("/admin/", HTTP_HOST="localhost")
        assert page.status_code == 301
        assert page["Location"] == "https://localhost/admin/"


@pytest.mark.django_db
def test_requests_through_the_tls_proxy_get_hsts_and_secure_cookies(production):
    with override_settings(**production):
        client = Client(HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="localhost")
        response = client.get("/admin/login/")
    assert response.status_code == 200
    hsts = response["Strict-Transport-Security"]
    assert hsts == f"max-age={production['SECURE_HSTS_SECONDS']}; includeSubDomains; preload"
    assert response.cookies["csrftoken"]["secure"]


def test_https_stays_off_for_the_demo_and_the_tests_over_plain_http(tmp_path):
    # What `make demo` sets: a SECRET_KEY (in .env), DEBUG off, nothing else.
    environment = {name: os.environ[name] for name in ("PATH",) if name in os.environ}
    environment.update(
        SECRET_KEY="k" * 50,
        HPML_VAR_DIR=str(tmp_path / "var"),
        HPML_ENV_FILE=str(tmp_path / "no.env"),
    )
    values = settings_under(environment, PLAIN_HTTP_SETTINGS)
    assert values == {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_PROXY_SSL_HEADER": None,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
    }


@pytest.mark.parametrize("value", ["X-Forwarded-Proto", "HTTP_X_FORWARDED_PROTO", "a,b,c"])
def test_a_malformed_proxy_header_setting_stops_the_process(tmp_path, value):
    environment = production_environment(tmp_path)
    environment["SECURE_PROXY_SSL_HEADER"] = value
    result = run_python(environment, "manage.py", "check")
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must be a request header and its value" in result.stderr
