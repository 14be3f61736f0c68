"""The deployment files pass the checks of the tools that own their formats, offline.

- Kubernetes objects, as rendered from the base and from the GPU overlay: the API schemas that
  kubernetes-validate ships, in strict mode (an unknown field is an error), for the oldest
  Kubernetes release the manifests support.
- Compose files: the Compose specification's schema, as check-jsonschema vendors it.
- The CI workflow: GitHub's workflow schema, as check-jsonschema vendors it.
- The Dockerfile: hadolint, with deploy/.hadolint.yaml, failing on a finding of any level.
"""

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from tests.deploy.manifests import (
    COMPOSE,
    COMPOSE_GPU,
    DEPLOY,
    DOCKERFILE,
    GPU_OVERLAY,
    K8S,
    ROOT,
    secret_example,
)
from tests.deploy.render import render

# Every API version used here is served from this release on (autoscaling/v2, policy/v1 with
# unhealthyPodEvictionPolicy, networking.k8s.io/v1).
KUBERNETES_VERSION = "1.30.0"
CI_WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
BIN = Path(sys.executable).parent


def tool(name: str, *args: str) -> subprocess.CompletedProcess:
    """Runs a command-line tool installed in this virtualenv (requirements-dev.txt)."""
    executable = BIN / name
    assert executable.is_file(), f"{name} is not installed: make install"
    return subprocess.run(
        [str(executable), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def invalid(doc: dict) -> str | None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except ValidationError as exc:
        return f"{doc['kind']} {doc['metadata']['name']}: {exc.message} at {list(exc.path)}"
    except SchemaNotFoundError as exc:
        return exc.message
    return None


@pytest.mark.parametrize("folder", [K8S, GPU_OVERLAY], ids=["base", "gpu"])
def test_every_rendered_kubernetes_object_is_valid_in_strict_mode(folder):
    docs = render(folder)
    assert len(docs) >= 20
    errors = [error for error in map(invalid, docs) if error]
    assert not errors, "\n".join(errors)


def test_the_secret_example_is_a_valid_secret():
    assert invalid(secret_example()) is None


def test_strict_validation_rejects_a_misspelt_field():
    (web,) = [
        d for d in render(K8S) if d["kind"] == "Deployment" and d["metadata"]["name"] == "web"
    ]
    web["spec"]["template"]["spec"]["securityContext"]["runAsNonroot"] = True
    assert "runAsNonroot" in invalid(web)


@pytest.mark.parametrize("path", [COMPOSE, COMPOSE_GPU], ids=lambda p: p.name)
def test_the_compose_file_follows_the_compose_specification(path):
    result = tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_ci_workflow_follows_the_github_workflow_schema():
    result = tool(
        "check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(CI_WORKFLOW)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_passes_hadolint_without_a_finding():
    config = DEPLOY / ".hadolint.yaml"
    result = tool("hadolint", "--config", str(config), "--no-color", str(DOCKERFILE))
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_hadolint_reports_what_the_configuration_forbids(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM quay.io/example/python:3.11\nRUN apt-get install -y curl\n")
    result = tool("hadolint", "--config", str(DEPLOY / ".hadolint.yaml"), str(dockerfile))
    assert result.returncode != 0
    assert {"DL3026", "DL3008", "DL3015"} <= set(result.stdout.split())
