"""Every process that uses MLflow uses the settings' store, never files where it started."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import django
django.setup()
from hpml_portal import mlflow_client  # noqa: F401  (points MLflow at the settings)
import mlflow
mlflow.MlflowClient().create_registered_model("probe")
print(mlflow.get_tracking_uri())
"""


def test_a_fresh_process_registers_in_the_settings_store_and_writes_nothing_where_it_runs(
    tmp_path,
):
    store = tmp_path / "store" / "mlflow.db"
    store.parent.mkdir()
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{store}",
        PYTHONPATH=str(ROOT),
        HPML_VAR_DIR=str(tmp_path / "var"),
    )

    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == f"sqlite:///{store}"
    uri = f"sqlite:///{store}"
    assert mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model("probe")
    assert sorted(p.name for p in workdir.iterdir()) == []


def test_the_repository_holds_no_mlflow_store():
    tracked = subprocess.run(
        ["git", "ls-files", "mlflow.db", "mlruns"], cwd=ROOT, capture_output=True, text=True
    )
    ignored = (ROOT / ".gitignore").read_text().split()

    assert tracked.stdout == ""
    assert "mlflow.db" in ignored and "mlruns/" in ignored
