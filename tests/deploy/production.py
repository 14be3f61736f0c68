"""The portal's code run on this machine with the environment a Kubernetes pod gives it.

The environment is the image's (Dockerfile ENV) and the ConfigMap's, with the Secret's files
written to a folder of the test's (a real SECRET_KEY in place of the example's placeholder) and
the *_FILE variables pointing there. Only the image's own paths are moved to that folder too.
Nothing of the test run's environment reaches it but PATH and the locale.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path, PurePosixPath

from tests.deploy.manifests import ROOT, config_maps, dockerfile_env, secret_example

SECRETS_MOUNT = PurePosixPath("/run/secrets/hpml")
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")


def production_environment(folder: Path) -> dict[str, str]:
    environment = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    environment.update(dockerfile_env())
    environment.update(config_maps()["hpml-config"])
    files = folder / "secrets"
    files.mkdir(parents=True, exist_ok=True)
    values = dict(secret_example()["stringData"], **{"secret-key": secrets.token_urlsafe(50)})
    for key, value in values.items():
        (files / key).write_text(f"{value}\n")  # as `echo` would write it
    for name, value in environment.items():
        if name.endswith("_FILE") and PurePosixPath(value).parent == SECRETS_MOUNT:
            environment[name] = str(files / PurePosixPath(value).name)
    environment.update(
        HPML_VAR_DIR=str(folder / "var"),
        STATIC_ROOT=str(folder / "static"),
        HPML_ENV_FILE=str(folder / "no.env"),  # a developer's .env must not fill anything in
        DJANGO_SETTINGS_MODULE="hpml_portal.settings",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return environment


def run_python(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def settings_under(environment: dict[str, str], names: list[str]) -> dict:
    """The values settings.py gives `names` in that environment (JSON: tuples become lists)."""
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )
    environment = {"DJANGO_SETTINGS_MODULE": "hpml_portal.settings", **environment}
    result = run_python(environment, "-c", script)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
