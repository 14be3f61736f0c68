import pytest
from sklearn.datasets import load_digits

from models_registry.services import Artifact, model_alias_set, model_version_register


@pytest.fixture(scope="session")
def digits():
    """Real digits rows (64 raw pixel values each) and their labels."""
    data = load_digits()
    return data.data, data.target


@pytest.fixture
def production(model_version):
    """The session's trained digits model, registered as version 1 and promoted."""
    model_alias_set(model_version=model_version, alias="production")
    return model_version


@pytest.fixture
def second_version(model_version):
    """Version 2 of "digits": the same stored file registered again."""
    return model_version_register(
        model_name="digits",
        artifact=Artifact(model_version.artifact.name, model_version.sha256, 1),
        signature=model_version.signature,
        metrics={},
    )
