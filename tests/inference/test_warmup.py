"""Web processes load the models that serve before /readyz says they are ready."""

import pytest

from inference import loading as serving_models
from inference import warmup

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _as_it_was():
    """Later tests see this process as they found it (the suite's never preloads)."""
    before = dict(warmup._state)
    yield
    warmup._state.update(before)


def test_readyz_waits_for_the_preload_and_then_names_what_it_loaded(client, production):
    warmup.begin()
    serving_models._cache()._models.clear()  # a fresh process: nothing loaded yet

    loading = client.get("/readyz")
    result = warmup.preload()
    ready = client.get("/readyz")

    assert loading.status_code == 503 and loading.json()["checks"]["models"] == "loading"
    assert result == {"loaded": ["default/digits v1"], "failed": {}}
    assert ready.status_code == 200 and ready.json()["checks"]["models"] == "1 loaded"
    assert len(serving_models._cache()) == 1


def test_a_model_that_cannot_be_loaded_does_not_keep_the_process_unready(client, production, team):
    from models_registry.services import Artifact, model_alias_set, model_version_register

    broken = model_version_register(
        model_name="broken",
        team=team,
        artifact=Artifact("models/missing.keras", "0" * 64, 1),
        signature=production.signature,
        metrics={},
    )
    model_alias_set(model_version=broken, alias="production")
    warmup.begin()

    result = warmup.preload()
    ready = client.get("/readyz")

    assert result["loaded"] == ["default/digits v1"]
    assert "missing from storage" in result["failed"]["default/broken v1"]
    assert ready.status_code == 200 and ready.json()["checks"]["models"] == "1 loaded, 1 failed"


def test_no_aliases_to_preload_means_nothing_to_wait_for(client, settings):
    settings.SERVE_PRELOAD_ALIASES = []

    assert warmup.begin() is False
    assert client.get("/readyz").json()["checks"]["models"] == "not preloaded"


def test_a_file_that_fails_its_sha256_is_recorded_on_the_version_and_in_readyz(
    client, production, team, admin_user
):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from models_registry.models import ModelVersion
    from models_registry.services import Artifact, model_alias_set, model_version_register

    name = default_storage.save("models/tampered.keras", ContentFile(b"changed after upload"))
    tampered = model_version_register(
        model_name="tampered",
        team=team,
        artifact=Artifact(name, "1" * 64, 20),
        signature=production.signature,
        metrics={},
    )
    model_alias_set(model_version=tampered, alias="production")
    warmup.begin()

    warmup.preload()
    client.force_login(admin_user)
    detail = client.get("/readyz", REMOTE_ADDR="10.1.2.3").json()["checks"]
    anonymous = client.logout() or client.get("/readyz", REMOTE_ADDR="10.1.2.3").json()

    error = ModelVersion.objects.get(pk=tampered.pk).integrity_error
    assert "does not match " + "1" * 64 in error
    assert "does not match" in detail["models_failed"]["default/tampered v1"]
    assert "models_failed" not in anonymous["checks"]


def test_a_version_that_loads_again_has_its_recorded_failure_cleared(production):
    from models_registry.models import ModelVersion

    ModelVersion.objects.filter(pk=production.pk).update(integrity_error="earlier failure")
    production.refresh_from_db()
    serving_models._cache()._models.clear()

    serving_models.model_runtime_get(production)

    assert ModelVersion.objects.get(pk=production.pk).integrity_error == ""


def test_no_more_models_are_preloaded_than_the_cache_keeps(client, production, team, settings):
    from models_registry.services import Artifact, model_alias_set, model_version_register

    settings.MODEL_CACHE_SIZE = 1
    later = model_version_register(
        model_name="later",
        team=team,
        artifact=Artifact(production.artifact.name, production.sha256, 1),
        signature=production.signature,
        metrics={},
    )
    model_alias_set(model_version=later, alias="production")  # moved after digits'
    warmup.begin()

    result = warmup.preload()

    assert result == {"loaded": ["default/later v1"], "failed": {}}
