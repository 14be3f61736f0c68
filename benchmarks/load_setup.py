"""What ``benchmarks/load.py`` needs beyond the registered model: a READY dataset version to
list and train on, and an experiment to submit runs to.

Run with the portal's environment after ``predict_register.py`` (which makes the user
``bench``), so the portal's gunicorn sees what it makes:

    .venv/bin/python benchmarks/load_setup.py

The built-in digits set is ingested in this process (no worker needed). Prints one JSON line:
``{"dataset_version": ID, "experiment": ID}``.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hpml_portal.settings")


def main() -> None:
    import django

    django.setup()
    from predict_register import bench_user

    from datasets.ingest import dataset_version_execute
    from datasets.services import dataset_version_ingest
    from datasets.sourcing import IngestSource
    from experiments.services import experiment_get_or_create

    user = bench_user()
    version, _ = dataset_version_ingest(
        dataset_name="digits", source=IngestSource.builtin("digits"), user=user
    )
    # The message queued for a worker finds the version claimed and does nothing.
    version = dataset_version_execute(version_id=version.pk) or version
    version.refresh_from_db()
    if version.status != "READY":
        raise SystemExit(f"the digits version ended {version.status}: {version.error}")
    experiment = experiment_get_or_create(name="load", user=user)
    print(json.dumps({"dataset_version": version.pk, "experiment": experiment.pk}))


if __name__ == "__main__":
    main()
