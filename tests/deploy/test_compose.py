"""Celery commands, and the docker compose stack, agree with the code they run."""

import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from tests.deploy.manifests import (
    COMPOSE_GPU,
    COMPOSE_SERVICES,
    DEPLOY,
    DOCKERFILE,
    IMAGE,
    REQUIRED_APP_VARIABLES,
    ROOT,
    assert_postgres_store,
    celery_commands,
    compose_app_services,
    compose_argv,
    compose_environment,
    created_buckets,
    created_databases,
    dockerfile_env,
    dockerfile_instructions,
    interpolate,
    is_known_variable,
    load_compose,
    mlflow_allows,
    option,
    program_commands,
    routed_queues,
    settings_variables,
    worker_queues,
)


def test_every_celery_command_uses_the_project_app_and_a_routed_queue():
    found = celery_commands()
    assert len(found) >= 6  # worker, training worker and beat, in compose and in Kubernetes
    for where, command in found:
        assert option(command, "-A", "--app") == "hpml_portal", where
        if "worker" in command:
            queues = worker_queues(command)
            assert queues, f"{where}: a worker with no -Q consumes every queue"
            assert queues <= routed_queues(), f"{where}: {queues - routed_queues()}"


def test_every_routed_queue_has_a_worker_in_compose_and_in_kubernetes():
    for prefix in ("compose", "Deployment"):
        consumed = set()
        for where, command in celery_commands():
            if where.startswith(prefix) and "worker" in command:
                consumed |= worker_queues(command)
        assert routed_queues() <= consumed, (
            f"{prefix}: nobody consumes {routed_queues() - consumed}"
        )


def test_every_beat_writes_its_schedule_under_the_writable_var_folder():
    var_dir = PurePosixPath(dockerfile_env()["HPML_VAR_DIR"])
    beats = [command for _, command in celery_commands() if "beat" in command]
    assert len(beats) == 2
    for command in beats:
        schedule = option(command, "--schedule", "-s")
        assert schedule and var_dir in PurePosixPath(schedule).parents


def test_compose_has_every_service_and_every_dependency_exists():
    services = load_compose()["services"]
    assert set(services) >= COMPOSE_SERVICES
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on a missing service {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                check = services[target].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), f"{name} -> {target}"
            elif condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{name} -> {target}"


def test_compose_builds_the_app_image_from_the_repository_root():
    services = compose_app_services(load_compose())
    assert set(services) >= {"mlflow", "migrate", "web", "worker", "training-worker", "beat"}
    for name, service in services.items():
        build = service["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT.resolve(), name
        dockerfile = ROOT / build["dockerfile"]
        assert dockerfile == DOCKERFILE
        # BuildKit reads <Dockerfile>.dockerignore next to the Dockerfile.
        assert dockerfile.with_name(f"{dockerfile.name}.dockerignore").is_file()


def test_every_compose_app_variable_is_one_that_settings_read():
    known = settings_variables()
    for name, service in compose_app_services(load_compose()).items():
        for variable in compose_environment(service):
            assert is_known_variable(variable, known), f"{name} sets {variable}"


def test_every_compose_django_service_points_at_the_compose_backends():
    compose = load_compose()
    postgres = compose_environment(compose["services"]["postgres"])
    minio = compose_environment(compose["services"]["minio"])
    buckets = created_buckets(compose_argv(compose["services"]["createbuckets"]))
    for name, service in compose_app_services(compose).items():
        if name == "mlflow":
            continue
        env = compose_environment(service)
        assert set(env) >= REQUIRED_APP_VARIABLES, f"{name}: {REQUIRED_APP_VARIABLES - set(env)}"
        database = urlsplit(env["DATABASE_URL"])
        assert (database.hostname, database.port) == ("postgres", 5432)
        assert database.username == postgres["POSTGRES_USER"]
        assert database.password == postgres["POSTGRES_PASSWORD"]
        assert database.path.lstrip("/") == postgres["POSTGRES_DB"]
        assert urlsplit(env["CELERY_BROKER_URL"]).hostname == "redis"
        assert urlsplit(env["AWS_S3_ENDPOINT_URL"]).hostname == "minio"
        assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
        assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
        assert env["AWS_STORAGE_BUCKET_NAME"] in buckets
        assert urlsplit(env["MLFLOW_TRACKING_URI"]).hostname == "mlflow"
        assert env["DEBUG"].lower() in {"false", "0", "off", "no"}


def test_every_compose_credential_can_be_overridden_from_a_dotenv_file():
    checked = 0
    for name, service in load_compose()["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            holds_password = re.search(r"PASSWORD|SECRET", variable) or re.search(
                r"://[^/@]*:[^/@]*@", str(value)
            )
            if holds_password:
                checked += 1
                assert "${" in str(value), f"{name}: {variable} is fixed in the file"
    assert checked >= 8


def test_compose_publishes_the_platform_ports_on_loopback():
    published = {}
    for name, service in load_compose()["services"].items():
        for mapping in service.get("ports", []):
            host_ip, host_port, container_port = interpolate(mapping).rsplit(":", 2)
            assert host_ip == "127.0.0.1", f"{name} publishes {mapping} beyond this machine"
            published[(name, int(container_port))] = int(host_port)
    assert published == {
        ("postgres", 5432): 5432,
        ("redis", 6379): 6379,
        ("minio", 9000): 9000,
        ("minio", 9001): 9001,
        ("mlflow", 5001): 5001,
        ("web", 5000): 5000,
    }


def test_the_compose_mlflow_server_accepts_workers_and_browsers_and_stores_in_postgres():
    compose = load_compose()
    mlflow = compose["services"]["mlflow"]
    (server,) = [c for c in program_commands(compose_argv(mlflow), "mlflow") if c[1] == "server"]
    tracking = urlsplit(compose_environment(compose["services"]["web"])["MLFLOW_TRACKING_URI"])
    assert option(server, "--port", "-p") == str(tracking.port)
    assert option(server, "--host", "-h") == "0.0.0.0"
    allowed = option(server, "--allowed-hosts")
    for host in (tracking.netloc, f"localhost:{tracking.port}"):
        assert mlflow_allows(allowed, host), f"MLflow would refuse Host: {host}"

    env = compose_environment(mlflow)
    store = urlsplit(option(server, "--backend-store-uri") or env["MLFLOW_BACKEND_STORE_URI"])
    assert_postgres_store(store.geturl())
    init_sql = "\n".join(p.read_text() for p in (DEPLOY / "postgres-init").glob("*.sql"))
    assert store.path.lstrip("/") in created_databases(init_sql)
    assert any(
        "/docker-entrypoint-initdb.d" in v for v in compose["services"]["postgres"]["volumes"]
    )

    destination = urlsplit(option(server, "--artifacts-destination"))
    assert destination.scheme == "s3"
    assert destination.netloc in created_buckets(compose_argv(compose["services"]["createbuckets"]))
    assert urlsplit(env["MLFLOW_S3_ENDPOINT_URL"]).hostname == "minio"


def test_the_compose_migrate_service_migrates_and_ensures_the_admin_account():
    migrate = load_compose()["services"]["migrate"]
    steps = [command[2:4] for command in program_commands(compose_argv(migrate), "python")]
    assert steps == [["migrate", "--noinput"], ["ensure_superuser", "admin"]]
    assert compose_environment(migrate).get("DJANGO_SUPERUSER_PASSWORD")


def test_the_compose_training_worker_runs_one_task_at_a_time():
    service = load_compose()["services"]["training-worker"]
    (command,) = program_commands(compose_argv(service), "celery")
    assert worker_queues(command) == {"training"}
    assert option(command, "--concurrency", "-c") == "1"
    assert option(command, "--prefetch-multiplier") == "1"


def test_the_gpu_override_builds_the_gpu_image_for_the_training_worker():
    override = load_compose(COMPOSE_GPU)["services"]
    assert set(override) == {"training-worker"}
    service = override["training-worker"]
    assert service["image"] == f"{IMAGE}:gpu"
    declared = {
        rest.split("=")[0]: rest.partition("=")[2]
        for keyword, rest in dockerfile_instructions()
        if keyword == "ARG"
    }
    compared = dict(re.findall(r'\[ "\$(\w+)" = "(\w+)" \]', DOCKERFILE.read_text()))
    for name, value in service["build"]["args"].items():
        assert name in declared, f"the Dockerfile has no ARG {name}"
        assert compared.get(name) == value, f"the Dockerfile never tests {name}={value}"
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in device["capabilities"] for device in devices)
