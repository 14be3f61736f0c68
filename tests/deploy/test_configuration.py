"""Every setting is given by both stacks, and the Ingress agrees with the portal's limits."""

import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from django.test import RequestFactory, override_settings

from hpml_portal.uploads import body_limit
from tests.deploy.manifests import (
    applied_documents,
    compose_app_services,
    compose_environment,
    config_maps,
    load_compose,
    secret_example,
    settings_variables,
)

# Read by settings.py and set by no deployment, with the reason.
NOT_DEPLOYED = {
    # Names the .env beside manage.py that `make demo` writes; an image carries none.
    "HPML_ENV_FILE",
}
NGINX_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def deployed_settings() -> set[str]:
    names = settings_variables() - NOT_DEPLOYED
    assert {"SECRET_KEY", "SECURE_SSL_REDIRECT", "JWT_ISSUER"} <= names  # the parse worked
    return names


def the_ingress() -> dict:
    (ingress,) = [doc for doc in applied_documents() if doc["kind"] == "Ingress"]
    return ingress


def test_the_configmap_gives_every_setting_settings_read():
    config = config_maps()["hpml-config"]
    missing = {name for name in deployed_settings() if not {name, f"{name}_FILE"} & set(config)}
    assert not missing, f"configmap.yaml leaves out {sorted(missing)}"


def test_every_compose_django_service_gives_every_setting_settings_read():
    for service_name, service in compose_app_services(load_compose()).items():
        if service_name == "mlflow":  # MLflow's own server, not the portal's code
            continue
        missing = deployed_settings() - set(compose_environment(service))
        assert not missing, f"compose service {service_name} leaves out {sorted(missing)}"


def test_every_secret_file_the_configmap_names_is_a_key_of_the_secret():
    keys = set(secret_example()["stringData"])
    files = {
        name: PurePosixPath(value).name
        for name, value in config_maps()["hpml-config"].items()
        if name.endswith("_FILE")
    }
    assert len(files) >= 7
    for name, key in files.items():
        assert key in keys, f"{name} names {key}, which the Secret does not hold"


def nginx_bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()
    return int(number) * NGINX_UNITS[unit.lower()]


def test_the_ingress_takes_exactly_the_largest_body_the_portal_takes():
    config = config_maps()["hpml-config"]
    annotation = the_ingress()["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/proxy-body-size"
    ]
    limits = {
        "DATASET_MAX_UPLOAD_BYTES": int(config["DATASET_MAX_UPLOAD_BYTES"]),
        "DATA_UPLOAD_MAX_MEMORY_SIZE": int(config["DATA_UPLOAD_MAX_MEMORY_SIZE"]),
    }
    factory = RequestFactory()
    with override_settings(**limits):
        upload = body_limit(factory.post("/api/v1/datasets/1/versions/", data={"name": "x"}))
        document = body_limit(
            factory.post("/api/v1/models/m/predict/", data={}, content_type="application/json")
        )
    assert upload[1] == "DATASET_MAX_UPLOAD_BYTES"
    # Smaller, nginx would answer 413 to uploads the portal accepts; larger, it would let
    # through bodies the portal refuses only once they arrive.
    assert nginx_bytes(annotation) == upload[2]
    assert nginx_bytes(annotation) >= max(document[2], int(config["PREDICT_MAX_BODY_BYTES"]))
    # The upload is streamed to the portal, which counts its bytes as they come.
    assert (
        the_ingress()["metadata"]["annotations"][
            "nginx.ingress.kubernetes.io/proxy-request-buffering"
        ]
        == "off"
    )


def test_the_ingress_serves_the_web_service_over_tls_under_hosts_the_portal_accepts():
    ingress = the_ingress()
    config = config_maps()["hpml-config"]
    allowed = config["ALLOWED_HOSTS"].split(",")
    origins = config["CSRF_TRUSTED_ORIGINS"].split(",")
    tls_hosts = {host for entry in ingress["spec"]["tls"] for host in entry["hosts"]}
    assert all(entry["secretName"] for entry in ingress["spec"]["tls"])
    (web,) = [
        d for d in applied_documents() if d["kind"] == "Service" and d["metadata"]["name"] == "web"
    ]
    served = {key for port in web["spec"]["ports"] for key in (port["port"], port.get("name"))}
    for rule in ingress["spec"]["rules"]:
        host = rule["host"]
        assert host in tls_hosts, f"{host} is served without TLS"
        assert host in allowed, f"the portal answers 400 to Host: {host}"
        assert f"https://{host}" in origins, f"admin forms posted from {host} fail the CSRF check"
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == "web"
            assert {backend["port"].get("name"), backend["port"].get("number")} & served
    assert urlsplit(config["PORTAL_URL"]).hostname in tls_hosts
    assert ingress["spec"]["ingressClassName"] == "nginx"
