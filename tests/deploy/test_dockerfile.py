"""The image is built from the locked requirements and runs the portal safely."""

import re
import shlex
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.urls import Resolver404, resolve

from tests.deploy.manifests import (
    DEPLOY,
    DOCKERFILE,
    ROOT,
    dockerfile_env,
    dockerfile_instructions,
    option,
)


def test_the_dockerfile_installs_the_locked_requirements():
    runs = [rest for keyword, rest in dockerfile_instructions() if keyword == "RUN"]
    installs = [shlex.split(run) for run in runs if "pip install -r requirements.txt" in run]
    assert installs, "requirements.txt is never installed"
    for tokens in installs:
        assert option(tokens, "-c", "--constraint") == "requirements.lock"


def test_the_gpu_build_pins_the_same_tensorflow_as_requirements():
    (pinned,) = re.findall(r"^tensorflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    gpu = re.findall(r"tensorflow\[and-cuda\]==([\w.]+)", DOCKERFILE.read_text())
    assert gpu == [pinned]


def test_every_file_the_dockerfile_copies_exists():
    copies = [shlex.split(rest) for keyword, rest in dockerfile_instructions() if keyword == "COPY"]
    assert copies
    for tokens in copies:
        if any(token.startswith("--from") for token in tokens):
            continue
        sources = [token for token in tokens if not token.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"


def test_the_image_carries_every_local_app_templates_and_manage_py():
    copied = {
        PurePosixPath(source).parts[0]
        for keyword, rest in dockerfile_instructions()
        if keyword == "COPY"
        for source in [t for t in shlex.split(rest) if not t.startswith("--")][:-1]
    }
    local_apps = {app.split(".")[0] for app in settings.INSTALLED_APPS}
    local_apps = {app for app in local_apps if (ROOT / app).is_dir()}
    assert "hpml_portal" in local_apps
    template_dirs = {p.relative_to(ROOT).parts[0] for t in settings.TEMPLATES for p in t["DIRS"]}
    needed = local_apps | template_dirs | {"manage.py"}
    assert "." in copied or needed <= copied, f"not in the image: {needed - copied}"


def test_the_image_runs_as_a_non_root_user_with_a_writable_var_folder():
    instructions = dockerfile_instructions()
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    var_dir = dockerfile_env()["HPML_VAR_DIR"]
    assert var_dir.startswith("/")
    last_user = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "USER")
    chowns = [
        rest
        for keyword, rest in instructions[:last_user]
        if keyword == "RUN" and re.search(r'chown -R \S+ "?\$HPML_VAR_DIR"?(\s|$)', rest)
    ]
    assert chowns, "HPML_VAR_DIR is never handed to the image's user"


def test_the_build_time_secret_key_stays_in_its_run_step():
    instructions = dockerfile_instructions()
    for keyword, rest in instructions:
        if keyword in {"ENV", "ARG", "LABEL"}:
            assert "SECRET_KEY" not in rest, f"{keyword} {rest} bakes a key into the image"
    collect = [
        rest for keyword, rest in instructions if keyword == "RUN" and "collectstatic" in rest
    ]
    assert len(collect) == 1 and re.match(
        r"SECRET_KEY=\S+ +python manage.py collectstatic", collect[0]
    )


def test_the_image_serves_gunicorn_on_5000_and_checks_healthz():
    instructions = dict(dockerfile_instructions())
    command = yaml.safe_load(instructions["CMD"])  # the exec form is a JSON list
    assert command[:2] == ["gunicorn", "hpml_portal.wsgi"]
    assert option(command, "--bind", "-b") == "0.0.0.0:5000"
    # TensorFlow is not fork-safe: the app must load in each worker, not in the master.
    assert "--preload" not in command + shlex.split(dockerfile_env().get("GUNICORN_CMD_ARGS", ""))
    assert command[1] == settings.WSGI_APPLICATION.rsplit(".", 1)[0]
    health = instructions["HEALTHCHECK"]
    (url,) = re.findall(r"http://[\w.:]+/\w+", health)
    assert urlsplit(url).port == 5000
    assert resolve(urlsplit(url).path).url_name == "healthz"


def test_the_build_context_leaves_out_local_state_and_secrets():
    ignored = {
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "var", ".git", ".env", ".pytest_cache", ".ruff_cache"} <= ignored
    assert not any(line.startswith("!") for line in ignored)


@pytest.mark.parametrize("path", ["/admin/", "/api/docs/"])
def test_every_portal_url_the_readme_gives_is_served(path):
    readme = (DEPLOY / "README.md").read_text()
    assert f"http://localhost:5000{path}" in readme
    try:
        resolve(path)
    except Resolver404:
        pytest.fail(f"deploy/README.md sends people to {path}, which no view serves")
