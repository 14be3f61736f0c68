"""Only the platform's own processes reach its stores, and only the ingress reaches the portal."""

from urllib.parse import urlsplit

import pytest

from tests.deploy.manifests import (
    NAMESPACE,
    applied_documents,
    config_maps,
    containers,
    k8s_argv,
    secret_example,
    workloads,
)
from tests.deploy.network import Pod, Port, allows

STORES = ("postgres", "redis", "minio", "mlflow")
# Who must reach what, from what each process does: the Django processes use the database,
# the broker and cache, the bucket and the tracking server; beat only sends to the broker (its
# init container checks the migrations); MLflow keeps its runs in PostgreSQL and its artifacts
# in MinIO; the bucket Job talks to MinIO.
NEEDS = {
    "web": {"postgres", "redis", "minio", "mlflow"},
    "worker": {"postgres", "redis", "minio", "mlflow"},
    "training-worker": {"postgres", "redis", "minio", "mlflow"},
    "beat": {"postgres", "redis"},
    "migrate": {"postgres"},
    "mlflow": {"postgres", "minio"},
    "createbuckets": {"minio"},
}
INGRESS_NAMESPACE = "ingress-nginx"


def policies() -> list[dict]:
    return [doc for doc in applied_documents() if doc["kind"] == "NetworkPolicy"]


def pod(labels: dict, namespace: str = NAMESPACE) -> Pod:
    return Pod(namespace, labels, {"kubernetes.io/metadata.name": namespace})


def platform_pods() -> dict[str, Pod]:
    return {
        doc["metadata"]["name"]: pod(doc["spec"]["template"]["metadata"]["labels"])
        for doc, _ in workloads()
    }


def service_ports(name: str) -> list[Port]:
    """The ports the Service `name` sends to, as the pods behind it declare them (number and
    name); none when there is no such Service."""
    services = [
        doc
        for doc in applied_documents()
        if doc["kind"] == "Service" and doc["metadata"]["name"] == name
    ]
    if not services:
        return []
    (service,) = services
    declared = {
        key: port
        for doc, spec in workloads()
        if service["spec"]["selector"].items()
        <= doc["spec"]["template"]["metadata"]["labels"].items()
        for container in spec["containers"]
        for port in container.get("ports", [])
        for key in (port["containerPort"], port.get("name"))
    }
    found = []
    for port in service["spec"]["ports"]:
        target = declared[port.get("targetPort", port["port"])]
        found.append(Port(target["containerPort"], target.get("name")))
    return found


def reaches(source: Pod, target_name: str, port: Port | None = None) -> bool:
    """Whether `source` may connect to the workload `target_name`: on `port`, else on any port
    its Service serves, else (a pod serving nothing) on a port it might open."""
    target = platform_pods()[target_name]
    ports = [port] if port else service_ports(target_name) or [Port(8080, "http")]
    return any(allows(policies(), source, target, each) for each in ports)


def test_every_pod_refuses_connections_that_no_policy_allows():
    deny = [
        p for p in policies() if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
    ]
    assert deny and "Ingress" in deny[0]["spec"]["policyTypes"]
    stranger = pod({"app.kubernetes.io/name": "debug-shell"})
    for name in platform_pods():
        assert not reaches(stranger, name), f"any pod of the namespace reaches {name}"


def test_every_process_reaches_exactly_the_stores_it_uses():
    pods = platform_pods()
    assert set(NEEDS) == set(pods) - {"postgres", "redis", "minio"}
    for name, source in pods.items():
        reached = {store for store in STORES if store != name and reaches(source, store)}
        assert reached == NEEDS.get(name, set()), f"{name} reaches {reached}"


def test_the_stores_the_processes_are_pointed_at_are_the_ones_the_policies_guard():
    hosts = set()
    config = config_maps()["hpml-config"]
    for name in ("CELERY_BROKER_URL", "CACHE_URL", "AWS_S3_ENDPOINT_URL", "MLFLOW_TRACKING_URI"):
        hosts.add(urlsplit(config[name]).hostname)
    secrets = secret_example()["stringData"]
    hosts |= {
        urlsplit(secrets[key]).hostname for key in ("database-url", "mlflow-backend-store-uri")
    }
    for _, spec in workloads():
        for container in containers(spec):
            values = [item.get("value", "") for item in container.get("env", [])]
            values += k8s_argv(container)
            hosts |= {urlsplit(v).hostname for v in values if v.startswith("http://")}
    assert hosts == set(STORES)


@pytest.mark.parametrize("store", STORES)
def test_no_other_namespace_reaches_a_store(store):
    for namespace in (INGRESS_NAMESPACE, "default", "monitoring"):
        for labels in ({}, {"app.kubernetes.io/name": "web"}):
            assert not reaches(pod(labels, namespace), store), f"{namespace} reaches {store}"


def test_the_portal_is_reached_from_the_ingress_controller_and_no_other_namespace():
    controller = pod({"app.kubernetes.io/name": "ingress-nginx"}, INGRESS_NAMESPACE)
    (http,) = service_ports("web")
    assert reaches(controller, "web", http)
    assert not reaches(controller, "web", Port(9999, "other"))
    assert not reaches(pod({}, "default"), "web", http)
    assert not reaches(pod({"app.kubernetes.io/name": "debug-shell"}), "web", http)
    # Prometheus scrapes /metrics from its own namespace.
    assert reaches(pod({}, "monitoring"), "web", http)


def test_no_process_that_serves_nothing_accepts_connections():
    for name in ("worker", "training-worker", "beat", "migrate", "createbuckets"):
        for source in (pod({"app.kubernetes.io/name": "web"}), pod({}, INGRESS_NAMESPACE)):
            assert not reaches(source, name), f"{name} is reachable"


def test_every_pod_name_a_policy_lets_in_is_a_workload_of_the_platform():
    names = set(platform_pods())
    for policy in policies():
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                for term in peer.get("podSelector", {}).get("matchExpressions", []):
                    assert set(term["values"]) <= names, policy["metadata"]["name"]
