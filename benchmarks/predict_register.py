"""Register the benchmark's models in the portal's database, through the portal's services.

Run by ``benchmarks/predict.py`` with the portal's environment (its database, storage and
Redis), so the portal's gunicorn sees what it makes:

    .venv/bin/python benchmarks/predict_register.py SPEC.json

SPEC.json: ``{"models": [{"path", "input_shape", "classes", "metrics"}, ...]}``. The models
become versions 1, 2, ... of ``digits`` in the default team, ``production`` on version 1. A
user ``bench``, approver in the default team, gets an API token. Prints one JSON line:
``{"token": KEY, "versions": [1, 2, ...]}``.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hpml_portal.settings")


def bench_user():
    from django.contrib.auth import get_user_model

    from accounts.models import Membership
    from accounts.selectors import team_default

    user, _ = get_user_model().objects.get_or_create(username="bench")
    Membership.objects.update_or_create(
        team=team_default(), user=user, defaults={"role": "approver"}
    )
    return user


def register_version(entry: dict, user):
    from hpml_portal.storage import save_content_addressed, sha256_file
    from models_registry.services import Artifact, model_version_register

    path = Path(entry["path"])
    stored = save_content_addressed(
        path, sha256=sha256_file(path), prefix="models/digits", suffix=".keras"
    )
    return model_version_register(
        model_name="digits",
        artifact=Artifact(stored.name, stored.sha256, stored.size),
        signature={
            "input_shape": entry["input_shape"],
            "input_dtype": "float32",
            "classes": entry["classes"],
            "outputs": len(entry["classes"]),
        },
        metrics=entry["metrics"],
        architecture="mlp",
        user=user,
    )


def main() -> None:
    import django

    django.setup()
    from accounts.services import api_token_create
    from models_registry.services import model_alias_set

    spec = json.loads(Path(sys.argv[1]).read_text())
    user = bench_user()
    versions = [register_version(entry, user) for entry in spec["models"]]
    model_alias_set(model_version=versions[0], alias="production", user=user)
    _, key = api_token_create(user=user, name="benchmark")
    print(json.dumps({"token": key, "versions": [v.version for v in versions]}))


if __name__ == "__main__":
    main()
