import hashlib

import pytest

from models_registry.models import ModelVersion
from models_registry.services import Artifact, model_version_register

SIGNATURE = {"input_shape": [4], "input_dtype": "float32", "classes": [0, 1]}


@pytest.fixture
def register(db):
    """Register the next version of a model through the service.

    The artifact is a storage key that is never read: the registry keeps rows, and loading
    the file is the business of inference.
    """

    def register(model_name: str = "digits", mlflow_version: str = "", **kwargs):
        digest = hashlib.sha256(f"{model_name}-{kwargs}".encode()).hexdigest()
        kwargs.setdefault("artifact", Artifact(f"models/{model_name}/{digest}.keras", digest, 1))
        kwargs.setdefault("signature", SIGNATURE)
        kwargs.setdefault("metrics", {"test_accuracy": 0.9})
        version = model_version_register(model_name=model_name, **kwargs)
        if mlflow_version:  # as if already mirrored to the MLflow registry
            ModelVersion.objects.filter(pk=version.pk).update(mlflow_version=mlflow_version)
            version.refresh_from_db()
        return version

    return register


@pytest.fixture
def v1(register):
    return register("digits")


@pytest.fixture
def v2(v1, register):
    return register("digits")
