"""The servers ``benchmarks/predict.py`` compares the portal with: ``mlflow models serve``,
BentoML 1.4 (in its own virtualenv) and the DRF floor (``predict_floor.py``)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from predict_portal import ROOT, gunicorn_command
from predict_servers import Server, Target, free_port

HERE = Path(__file__).resolve().parent
BENTO_VENV = HERE / ".venv-bento"
BENTO_READY_MARK = BENTO_VENV / ".installed"
BENTO_SPEC = "bentoml>=1.4,<1.5"


def mlflow_log(model, example, store_dir: Path) -> tuple[str, str]:
    """Log ``model`` to a new MLflow store in ``store_dir`` the way the platform does
    (``hpml_portal.mlflow_client``); return the tracking URI and the model URI."""
    import keras
    import mlflow
    import mlflow.keras
    import numpy as np
    from mlflow.models import Model, infer_signature

    tracking_uri = f"sqlite:///{store_dir / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = mlflow.create_experiment(
        "predict-benchmark", artifact_location=(store_dir / "artifacts").as_uri()
    )
    signature = infer_signature(example, np.asarray(model(example, training=False)))
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = Model.log(
            artifact_path=None,
            name="model",
            flavor=mlflow.keras,
            model=model,
            run_id=run.info.run_id,
            signature=signature,
            pip_requirements=[f"keras=={keras.__version__}", f"mlflow=={mlflow.__version__}"],
        )
    return tracking_uri, info.model_uri


def mlflow_target(tracking_uri: str, model_uri: str, rows: bytes, log_dir: Path) -> Target:
    port = free_port()
    env = dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_DISABLE_TELEMETRY="true")
    # mlflow starts uvicorn by name: the project's virtualenv must come first on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", model_uri]
    command += ["--env-manager", "local", "--workers", "2", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    return Target(
        server=Server("mlflow", command, env, log_dir / "mlflow.log", cwd=log_dir),
        ready_url=f"{base}/ping",
        predict_url=f"{base}/invocations",
        body=b'{"inputs": ' + rows + b"}",
        headers={"Content-Type": "application/json"},
        answer_key="predictions",
    )


def lock_pins(*names: str) -> list[str]:
    """``name==version`` for each of ``names`` pinned in requirements.lock (else unpinned)."""
    text = (ROOT / "requirements.lock").read_text()
    pins = []
    for name in names:
        found = re.search(rf"^{re.escape(name)}==([^\s;\\]+)", text, re.M | re.I)
        pins.append(f"{name}=={found.group(1)}" if found else name)
    return pins


def bento_venv_ensure() -> Path:
    """Make ``benchmarks/.venv-bento`` with BentoML 1.4 and the project's TensorFlow and Keras,
    unless a previous run finished making it."""
    if BENTO_READY_MARK.exists():
        return BENTO_VENV
    python = Path(sys.base_prefix) / "bin" / "python3"
    if not (BENTO_VENV / "bin" / "python").exists():
        subprocess.run([str(python), "-m", "venv", str(BENTO_VENV)], check=True)
    requirements = [BENTO_SPEC, *lock_pins("tensorflow", "keras")]
    print(f"installing {' '.join(requirements)} into {BENTO_VENV} ...", file=sys.stderr)
    subprocess.run(
        [str(BENTO_VENV / "bin" / "pip"), "install", "--quiet", *requirements],
        check=True,
        timeout=3600,
    )
    BENTO_READY_MARK.write_text(" ".join(requirements) + "\n")
    return BENTO_VENV


def bento_version() -> str:
    done = subprocess.run(
        [str(BENTO_VENV / "bin" / "python"), "-c", "import bentoml; print(bentoml.__version__)"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "unknown"


def bento_target(model_path: Path, rows: bytes, log_dir: Path) -> Target:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        BENCH_MODEL_PATH=str(model_path),
        BENTOML_HOME=str(log_dir / "bentoml"),
        BENTOML_DO_NOT_TRACK="true",
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    command = [str(BENTO_VENV / "bin" / "bentoml"), "serve", "bento_service:DigitsClassifier"]
    command += ["--working-dir", str(HERE), "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    return Target(
        server=Server("bento", command, env, log_dir / "bento.log", cwd=HERE),
        ready_url=f"{base}/readyz",
        predict_url=f"{base}/predict",
        body=b'{"instances": ' + rows + b"}",
        headers={"Content-Type": "application/json"},
        answer_key="predictions",
    )


def floor_target(rows: bytes, log_dir: Path, threads: int) -> Target:
    port = free_port()
    command = gunicorn_command("predict_floor:application", port, threads)
    command += ["--chdir", str(HERE)]
    url = f"http://127.0.0.1:{port}/api/v1/models/digits/predict/"
    return Target(
        server=Server("floor", command, dict(os.environ), log_dir / "floor.log", cwd=HERE),
        ready_url=url,
        predict_url=url,
        body=b'{"instances": ' + rows + b"}",
        headers={"Content-Type": "application/json", "Authorization": "Token unused"},
        answer_key="predictions",
    )
