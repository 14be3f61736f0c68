"""Readers for the deployment files, shared by the tests beside this module.

The tests read deploy/ (Dockerfile, docker-compose files, Kubernetes manifests) as data and
check them against settings.py, the URLconf and each other. They build no image and start no
container; they touch no database. The Kubernetes objects are those `kubectl apply -k` creates
(tests/deploy/render.py).
"""

import ast
import fnmatch
import importlib.util
import re
import shlex
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import yaml
from django.conf import settings

from tests.deploy.render import render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_ROOT = DEPLOY / "k8s"
K8S = K8S_ROOT / "base"
GPU_OVERLAY = K8S_ROOT / "overlays" / "gpu"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
COMPOSE_GPU = DEPLOY / "docker-compose.gpu.yml"

NAMESPACE = "highpeaks-ml"
IMAGE = "highpeaks-ml-platform"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
# Read by the programs around Django, not by settings.py: MLflow's server and its S3 client,
# the ensure_superuser command, Keras/TensorFlow and gunicorn.
NON_SETTINGS_VARIABLES = {
    "MLFLOW_S3_ENDPOINT_URL",
    "MLFLOW_BACKEND_STORE_URI",
    "DJANGO_SUPERUSER_PASSWORD",
    "KERAS_BACKEND",
    "TF_CPP_MIN_LOG_LEVEL",
    "GUNICORN_CMD_ARGS",
    "CUDA_CACHE_PATH",
}
# What every process running the portal's code must be told (directly or as <NAME>_FILE).
REQUIRED_APP_VARIABLES = {
    "SECRET_KEY",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "AWS_S3_ENDPOINT_URL",
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "MLFLOW_TRACKING_URI",
}
COMPOSE_SERVICES = {
    "postgres",
    "redis",
    "minio",
    "createbuckets",
    "mlflow",
    "migrate",
    "web",
    "worker",
    "training-worker",
    "beat",
}


# --- reading the files ------------------------------------------------------------------------


def settings_variables() -> set[str]:
    """Every variable name settings.py reads through its `env` object."""
    tree = ast.parse((ROOT / "hpml_portal" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        is_env = (isinstance(func, ast.Name) and func.id == "env") or (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "env"
        )
        first = node.args[0]
        if is_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def is_known_variable(name: str, known: set[str]) -> bool:
    if name in known or name in NON_SETTINGS_VARIABLES:
        return True
    return name.endswith("_FILE") and name.removesuffix("_FILE") in known


def k8s_files():
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_documents() -> list[tuple[str, dict]]:
    docs = []
    for path in k8s_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def applied_documents(folder: Path = K8S) -> list[dict]:
    """The objects `kubectl apply -k` creates (the Secret example is not one of them)."""
    return render(folder)


def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def secret_example() -> dict:
    (secret,) = [doc for name, doc in k8s_documents() if name == "secret.example.yaml"]
    return secret


def pod_spec(doc: dict) -> dict | None:
    if doc["kind"] not in WORKLOAD_KINDS:
        return None
    return doc["spec"]["template"]["spec"]


def workloads(folder: Path = K8S) -> list[tuple[dict, dict]]:
    docs = applied_documents(folder)
    return [(doc, pod_spec(doc)) for doc in docs if pod_spec(doc) is not None]


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def app_containers(folder: Path = K8S) -> list[tuple[dict, dict, dict]]:
    return [
        (doc, spec, container)
        for doc, spec in workloads(folder)
        for container in containers(spec)
        if container["image"].startswith(f"{IMAGE}:")
    ]


def config_maps() -> dict[str, dict]:
    return {
        doc["metadata"]["name"]: doc.get("data", {})
        for doc in applied_documents()
        if doc["kind"] == "ConfigMap"
    }


def container_environment(container: dict) -> dict[str, str | None]:
    """Variables a container gets: its ConfigMaps' entries, then its own `env` (value or None)."""
    variables: dict[str, str | None] = {}
    maps = config_maps()
    for source in container.get("envFrom", []):
        variables.update(maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        variables[item["name"]] = item.get("value")
    return variables


def load_compose(path=COMPOSE) -> dict:
    return yaml.safe_load(path.read_text())


def interpolate(value) -> str:
    """A compose value as it is with no .env: `${VAR:-default}` gives the default."""
    text = str(value)
    text = re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", text)
    return text.replace("$$", "$")


def compose_environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: interpolate(value) for key, value in env.items()}


def compose_app_services(compose: dict) -> dict[str, dict]:
    return {
        name: service
        for name, service in compose["services"].items()
        if str(service.get("image", "")).startswith(f"{IMAGE}:")
    }


def argv(command) -> list[str]:
    """Tokens of a command; the script of `sh -c SCRIPT` is split as the shell would."""
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    command = [str(part) for part in command]
    if len(command) >= 3 and command[0] in {"sh", "/bin/sh", "bash"} and command[1] == "-c":
        return shlex.split(command[2])
    return command


def commands(tokens: list[str]) -> list[list[str]]:
    """Split a token list at `&&`, `||` and `;` into the simple commands it runs."""
    found, current = [], []
    for token in tokens:
        if token in {"&&", "||", ";"}:
            found.append(current)
            current = []
        elif token.endswith(";") and token != ";":
            current.append(token[:-1])
            found.append(current)
            current = []
        else:
            current.append(token)
    found.append(current)
    return [command for command in found if command]


def program_commands(tokens: list[str], program: str) -> list[list[str]]:
    result = []
    for command in commands(tokens):
        start = command.index("exec") + 1 if command[0] == "exec" else 0
        if command[start:] and PurePosixPath(command[start]).name == program:
            result.append(command[start:])
    return result


def option(tokens: list[str], *names: str) -> str | None:
    for i, token in enumerate(tokens):
        for name in names:
            if token == name and i + 1 < len(tokens):
                return tokens[i + 1]
            if name.startswith("--") and token.startswith(f"{name}="):
                return token.split("=", 1)[1]
    return None


def k8s_argv(container: dict) -> list[str]:
    return argv(container.get("command", []) + container.get("args", []))


def compose_argv(service: dict) -> list[str]:
    command = service.get("command")
    if isinstance(command, list):
        command = [interpolate(part) for part in command]
    elif command is not None:
        command = interpolate(command)
    entrypoint = service.get("entrypoint")
    if entrypoint is not None and command is not None:
        return argv(list(entrypoint) + list(command))
    return argv(command)


def celery_commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every celery invocation in compose and in the manifests."""
    found = []
    for name, service in load_compose()["services"].items():
        for command in program_commands(compose_argv(service), "celery"):
            found.append((f"compose service {name}", command))
    for doc, spec in workloads():
        for container in containers(spec):
            for command in program_commands(k8s_argv(container), "celery"):
                found.append((f"{doc['kind']} {doc['metadata']['name']}", command))
    return found


def routed_queues() -> set[str]:
    queues = {settings.CELERY_TASK_DEFAULT_QUEUE}
    queues.update(route["queue"] for route in settings.CELERY_TASK_ROUTES.values())
    return queues


def worker_queues(command: list[str]) -> set[str]:
    value = option(command, "-Q", "--queues") or ""
    return {queue for queue in value.split(",") if queue}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_env() -> dict[str, str]:
    env = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def mlflow_allows(allowed: str, host: str) -> bool:
    """MLflow's Host header check: exact names, or fnmatch patterns where they have a `*`."""
    patterns = [pattern.strip() for pattern in allowed.split(",")]
    return any(
        fnmatch.fnmatch(host, pattern) if "*" in pattern else host == pattern
        for pattern in patterns
    )


def created_buckets(tokens: list[str]) -> set[str]:
    buckets = set()
    for command in program_commands(tokens, "mc"):
        if command[1:2] == ["mb"]:
            buckets.update(arg.split("/", 1)[1] for arg in command[2:] if "/" in arg)
    return buckets


def assert_postgres_store(uri: str) -> None:
    """An MLflow store URI the image can open: PostgreSQL through a driver it installs."""
    store = urlsplit(uri)
    dialect, _, driver = store.scheme.partition("+")
    assert dialect == "postgresql", uri
    # SQLAlchemy 2.1 opens a bare postgresql:// with psycopg 3; name the driver explicitly.
    assert driver and importlib.util.find_spec(driver), f"{uri}: no installed driver {driver!r}"
    assert store.hostname == "postgres"


def created_databases(sql: str) -> set[str]:
    return set(re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", sql, flags=re.IGNORECASE))
