"""The CI workflow lints, tests on the services the platform runs on, and builds both images."""

import re
import shlex

import yaml

from tests.deploy.manifests import DOCKERFILE, IMAGE, ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def jobs() -> dict[str, dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]


def runs(job: dict) -> list[list[str]]:
    """The commands of a job's `run` steps, one token list per line."""
    return [
        shlex.split(line)
        for step in job["steps"]
        for line in step.get("run", "").splitlines()
        if line.strip()
    ]


def uses(job: dict, action: str) -> list[dict]:
    return [step for step in job["steps"] if step.get("uses", "").split("@")[0] == action]


def test_ci_lints_with_ruff_as_make_lint_does():
    commands = [command for job in jobs().values() for command in runs(job)]
    assert ["ruff", "check", "."] in commands
    assert ["ruff", "format", "--check", "."] in commands


def test_ci_runs_the_whole_suite_on_postgresql_16_and_redis_7():
    suites = [
        job
        for job in jobs().values()
        if any(
            command[:2] == ["make", "test"] and "tests/" not in " ".join(command)
            for command in runs(job)
        )
    ]
    assert len(suites) == 1
    (job,) = suites
    images = {name: service["image"] for name, service in job["services"].items()}
    assert re.fullmatch(r"postgres:16(\.\d+)*(-\w+)?", images["postgres"])
    assert re.fullmatch(r"redis:7(\.\d+)*(-\w+)?", images["redis"])
    # As .ci/run: the browser tests' chromium from Debian, then the JAX run of the training core.
    commands = [" ".join(command) for command in runs(job)]
    assert any("apt-get install" in command and "chromium" in command for command in commands)
    assert "make test-jax" in commands
    # The runner's environment points at the job's services.
    assert "postgres:5432" in job["env"]["DATABASE_URL"]
    assert "redis:6379" in job["env"]["CELERY_BROKER_URL"]


def test_ci_checks_the_deployment_files_where_kubectl_renders_them():
    deploy = [
        job
        for job in jobs().values()
        if any(
            command[:2] == ["make", "test"] and "tests/deploy" in " ".join(command)
            for command in runs(job)
        )
    ]
    assert deploy
    assert any(command[:2] == ["kubectl", "version"] for command in runs(deploy[0]))


def test_ci_builds_the_cpu_and_the_gpu_image_from_the_dockerfile_without_pushing():
    compared = dict(re.findall(r'\[ "\$(\w+)" = "(\w+)" \]', DOCKERFILE.read_text()))
    built = {}
    for job in jobs().values():
        for step in uses(job, "docker/build-push-action"):
            settings = step["with"]
            assert settings["file"] == "deploy/Dockerfile"
            assert settings["context"] == "."
            assert settings["push"] is False
            for variant in job["strategy"]["matrix"]["include"]:
                args = dict(
                    line.split("=", 1)
                    for line in settings["build-args"]
                    .replace("${{ matrix.gpu }}", variant["gpu"])
                    .split()
                )
                tag = settings["tags"].replace("${{ matrix.tag }}", variant["tag"])
                built[tag] = args
    assert built == {f"{IMAGE}:latest": {"GPU": "false"}, f"{IMAGE}:gpu": {"GPU": "true"}}
    # The Dockerfile installs the CUDA libraries for exactly that value of the argument.
    assert compared == {"GPU": "true"}
