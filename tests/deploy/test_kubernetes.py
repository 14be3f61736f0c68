"""Kubernetes manifests agree with the code they deploy and with each other."""

from pathlib import PurePosixPath
from urllib.parse import urlsplit

from django.urls import resolve

from tests.deploy.manifests import (
    IMAGE,
    K8S,
    NAMESPACE,
    REQUIRED_APP_VARIABLES,
    app_containers,
    applied_documents,
    assert_postgres_store,
    config_maps,
    container_environment,
    containers,
    created_buckets,
    created_databases,
    is_known_variable,
    k8s_argv,
    k8s_documents,
    k8s_files,
    kustomization,
    mlflow_allows,
    option,
    program_commands,
    secret_example,
    settings_variables,
    worker_queues,
    workloads,
)


def test_every_kubernetes_document_has_api_version_kind_and_name():
    documents = k8s_documents()
    assert len(documents) >= 10
    for filename, doc in documents:
        assert doc.get("apiVersion"), f"{filename}: a document without apiVersion"
        assert doc.get("kind"), f"{filename}: a document without kind"
        assert doc.get("metadata", {}).get("name"), f"{filename}: a {doc['kind']} without a name"


def test_every_kubernetes_object_lives_in_the_highpeaks_ml_namespace():
    for filename, doc in k8s_documents():
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
        else:
            name = f"{filename}: {doc['kind']} {doc['metadata']['name']}"
            assert doc["metadata"].get("namespace") == NAMESPACE, name
    assert kustomization()["namespace"] == NAMESPACE


def test_the_kustomization_lists_every_manifest_but_the_secret_example():
    listed = kustomization()["resources"]
    for resource in listed:
        assert (K8S / resource).is_file(), f"kustomization lists a missing file: {resource}"
    assert "secret.example.yaml" not in listed
    expected = {path.name for path in k8s_files()} - {"secret.example.yaml"}
    assert set(listed) == expected
    assert len(listed) == len(set(listed))


def test_every_object_name_is_unique_per_kind():
    seen = [(doc["kind"], doc["metadata"]["name"]) for doc in applied_documents()]
    assert len(seen) == len(set(seen))


def test_every_container_sets_cpu_and_memory_requests_and_limits():
    for doc, spec in workloads():
        for container in containers(spec):
            where = f"{doc['kind']} {doc['metadata']['name']} container {container['name']}"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resources.get(bound, {}).get(resource), f"{where}: no {bound}.{resource}"


def test_every_app_container_runs_the_platform_image_as_a_non_root_user():
    found = app_containers()
    assert found
    for doc, spec, container in found:
        assert container["image"] in {f"{IMAGE}:latest", f"{IMAGE}:gpu"}
        assert spec.get("securityContext", {}).get("runAsNonRoot") is True, doc["metadata"]["name"]
    # The base runs on CPU: only the GPU overlay gives the training worker the CUDA image.
    assert not [c for _, _, c in found if c["image"].endswith(":gpu")]


def test_every_app_environment_variable_is_one_that_settings_read():
    known = settings_variables()
    assert {"DATABASE_URL", "SECRET_KEY", "CELERY_BROKER_URL"} <= known  # the parse worked
    for doc, _, container in app_containers():
        for name in container_environment(container):
            assert is_known_variable(name, known), (
                f"{doc['metadata']['name']} sets {name}, which nothing reads"
            )
    for name in config_maps()["hpml-config"]:
        assert is_known_variable(name, known), f"hpml-config sets {name}, which nothing reads"


def test_every_django_process_gets_every_required_setting():
    for doc, _, container in app_containers():
        if program_commands(k8s_argv(container), "mlflow"):
            continue
        variables = container_environment(container)
        where = f"{doc['metadata']['name']}/{container['name']}"
        for name in REQUIRED_APP_VARIABLES:
            assert name in variables or f"{name}_FILE" in variables, f"{where} lacks {name}"
        for name in variables:
            # <NAME>_FILE silently wins over <NAME>: setting both hides a mistake.
            assert f"{name}_FILE" not in variables, f"{where} sets both {name} and {name}_FILE"


def test_every_workload_selects_its_own_pods():
    for doc, _ in workloads():
        if doc["kind"] == "Job":
            continue
        selector = doc["spec"]["selector"]["matchLabels"]
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), doc["metadata"]["name"]


def test_every_volume_a_container_mounts_is_declared():
    for doc, spec in workloads():
        declared = {volume["name"] for volume in spec.get("volumes", [])}
        declared |= {c["metadata"]["name"] for c in doc["spec"].get("volumeClaimTemplates", [])}
        for container in containers(spec):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in declared, f"{doc['metadata']['name']}: {mount['name']}"


def test_every_configmap_and_secret_a_pod_uses_is_defined():
    maps = config_maps()
    secret = secret_example()
    secret_name, keys = secret["metadata"]["name"], set(secret["stringData"])
    for doc, spec in workloads():
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in maps
            if "secret" in volume:
                assert volume["secret"]["secretName"] == secret_name
                for item in volume["secret"].get("items", []):
                    assert item["key"] in keys, f"{doc['metadata']['name']}: {item['key']}"
        for container in containers(spec):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in maps
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == secret_name
                    assert ref["key"] in keys, f"{doc['metadata']['name']}: {ref['key']}"


def test_every_secret_file_a_container_names_is_mounted_in_that_container():
    secret_keys = set(secret_example()["stringData"])
    checked = 0
    for doc, spec in workloads():
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for container in containers(spec):
            mounted = set()
            for mount in container.get("volumeMounts", []):
                source = volumes.get(mount["name"], {}).get("secret")
                if source is None:
                    continue
                files = [item["path"] for item in source.get("items", [])] or secret_keys
                mounted.update(str(PurePosixPath(mount["mountPath"]) / name) for name in files)
            named = [value for value in container_environment(container).values() if value]
            named += k8s_argv(container)
            for path in (text for text in named if text.startswith("/run/secrets/")):
                checked += 1
                where = f"{doc['metadata']['name']}/{container['name']}"
                assert path in mounted, f"{where} reads {path}, which is not mounted"
    assert checked >= 5


def test_every_service_selects_pods_that_serve_its_target_ports():
    pods = [(spec, doc["spec"]["template"]["metadata"]["labels"]) for doc, spec in workloads()]
    services = [doc for doc in applied_documents() if doc["kind"] == "Service"]
    assert {service["metadata"]["name"] for service in services} >= {"web", "mlflow", "postgres"}
    for service in services:
        selector = service["spec"]["selector"]
        matching = [spec for spec, labels in pods if selector.items() <= labels.items()]
        assert matching, f"Service {service['metadata']['name']} selects no pod"
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for spec in matching:
                served = {
                    key
                    for container in spec["containers"]
                    for declared in container.get("ports", [])
                    for key in (declared["containerPort"], declared.get("name"))
                }
                assert target in served, f"Service {service['metadata']['name']}: {target}"


def test_the_web_service_and_its_probes_reach_the_portal_health_views():
    (web,) = [
        d
        for d in applied_documents()
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "web"
    ]
    (container,) = web["spec"]["template"]["spec"]["containers"]
    ports = {port.get("name"): port["containerPort"] for port in container["ports"]}
    allowed_hosts = config_maps()["hpml-config"]["ALLOWED_HOSTS"].split(",")
    paths = {}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if kind not in container:
            continue
        probe = container[kind]["httpGet"]
        paths[kind] = probe["path"]
        assert ports.get(probe["port"], probe["port"]) == 5000
        resolve(probe["path"])  # a view answers this path
        headers = {header["name"]: header["value"] for header in probe.get("httpHeaders", [])}
        assert headers.get("Host") in allowed_hosts, f"{kind} would get a 400 (DisallowedHost)"
    assert paths["readinessProbe"] == "/readyz"
    assert paths["livenessProbe"] == "/healthz"
    (service,) = [
        d for d in applied_documents() if d["kind"] == "Service" and d["metadata"]["name"] == "web"
    ]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert [port["port"] for port in service["spec"]["ports"]] == [5000]


def test_the_training_worker_runs_one_run_at_a_time_in_a_fresh_process_on_cpu():
    training = [
        (doc, spec, container)
        for doc, spec in workloads()
        for container in spec["containers"]
        for command in program_commands(k8s_argv(container), "celery")
        if "training" in worker_queues(command)
    ]
    assert len(training) == 1
    doc, spec, container = training[0]
    (command,) = program_commands(k8s_argv(container), "celery")
    assert option(command, "--max-tasks-per-child") == "1"
    assert option(command, "--concurrency", "-c") == "1"
    assert option(command, "--prefetch-multiplier") == "1"
    assert container["image"] == f"{IMAGE}:latest"
    # A pod that asks for a GPU waits for one: the base must schedule on any node.
    assert "nvidia.com/gpu" not in str(applied_documents())


def test_beat_runs_exactly_one_replica_that_is_replaced_not_rolled():
    beats = [
        doc
        for doc, spec in workloads()
        for container in spec["containers"]
        if any(
            command[3:4] == ["beat"] for command in program_commands(k8s_argv(container), "celery")
        )
    ]
    assert len(beats) == 1
    assert beats[0]["spec"]["replicas"] == 1
    assert beats[0]["spec"]["strategy"]["type"] == "Recreate"


def test_the_kubernetes_mlflow_server_accepts_the_workers_and_stores_in_postgres_and_minio():
    (deployment,) = [
        doc
        for doc, spec in workloads()
        if any(program_commands(k8s_argv(c), "mlflow") for c in spec["containers"])
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    tokens = k8s_argv(container)
    (server,) = [c for c in program_commands(tokens, "mlflow") if c[1] == "server"]
    tracking = urlsplit(config_maps()["hpml-config"]["MLFLOW_TRACKING_URI"])
    assert option(server, "--port", "-p") == str(tracking.port)
    assert mlflow_allows(option(server, "--allowed-hosts"), tracking.netloc)
    services = [d for d in applied_documents() if d["kind"] == "Service"]
    (service,) = [s for s in services if s["metadata"]["name"] == tracking.hostname]
    assert [port["port"] for port in service["spec"]["ports"]] == [tracking.port]

    env = {item["name"]: item for item in container["env"]}
    assert "MLFLOW_S3_ENDPOINT_URL" in env
    store_key = env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"]["key"]
    store = urlsplit(secret_example()["stringData"][store_key])
    assert_postgres_store(store.geturl())
    initdb = "\n".join(config_maps()["postgres-initdb"].values())
    assert store.path.lstrip("/") in created_databases(initdb)

    destination = urlsplit(option(server, "--artifacts-destination"))
    assert destination.scheme == "s3"
    (job,) = [d for d in applied_documents() if d["metadata"]["name"] == "createbuckets"]
    buckets = created_buckets(k8s_argv(job["spec"]["template"]["spec"]["containers"][0]))
    assert destination.netloc in buckets
    assert config_maps()["hpml-config"]["AWS_STORAGE_BUCKET_NAME"] in buckets


def test_the_migrate_job_migrates_and_ensures_the_admin_account():
    (job,) = [
        d for d in applied_documents() if d["kind"] == "Job" and d["metadata"]["name"] == "migrate"
    ]
    tokens = k8s_argv(job["spec"]["template"]["spec"]["containers"][0])
    steps = [command[2:4] for command in program_commands(tokens, "python")]
    assert steps == [["migrate", "--noinput"], ["ensure_superuser", "admin"]]
