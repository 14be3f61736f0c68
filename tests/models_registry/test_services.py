import re

import mlflow
import numpy as np
import pytest
from django.conf import settings
from django.utils import timezone

from datasets.models import DatasetVersion
from experiments.models import Experiment, TrainingRun
from hpml_portal.ttl_cache import expire_all
from models_registry import selectors, services, tasks
from models_registry.models import AliasEvent, ModelAlias, ModelVersion, RegisteredModel
from tests.helpers import queued_tasks

MIRROR = "models_registry.tasks.mirror_alias"


# --- versions ----------------------------------------------------------------------------------


def test_versions_are_numbered_per_model(register):
    first, second = register("digits"), register("digits")
    other = register("iris")

    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.model_id == second.model_id != other.model_id


def test_the_model_is_created_on_its_first_version_with_who_registered_it(register, user):
    version = register("digits", user=user)

    assert version.model.name == "digits" and version.model.created_by == user
    assert version.created_by == user


def test_it_rejects_an_invalid_model_name_and_creates_nothing(register):
    with pytest.raises(services.RegistryError, match="invalid model name 'no spaces'"):
        register("no spaces")

    assert not RegisteredModel.objects.exists() and not ModelVersion.objects.exists()


# --- aliases -----------------------------------------------------------------------------------


def test_setting_an_alias_points_it_at_the_version_with_an_audit_row(v1, user):
    event = services.model_alias_set(
        model_version=v1, alias="production", user=user, comment="first release"
    )

    assert event.alias == "production" and event.model_id == v1.model_id
    assert event.from_version is None and event.to_version == v1
    assert event.user == user and event.comment == "first release"
    alias = ModelAlias.objects.get(model=v1.model, alias="production")
    assert alias.version == v1 and alias.updated_by == user


def test_moving_an_alias_records_the_version_it_left(v1, v2, user):
    services.model_alias_set(model_version=v1, alias="production")

    event = services.model_alias_set(model_version=v2, alias="production", user=user)

    assert event.from_version == v1 and event.to_version == v2 and event.user == user
    assert ModelAlias.objects.get(alias="production").version == v2
    assert AliasEvent.objects.count() == 2


def test_setting_the_same_alias_again_changes_nothing(v1, user):
    services.model_alias_set(model_version=v1, alias="production")
    before = ModelAlias.objects.get(alias="production")

    event = services.model_alias_set(model_version=v1, alias="production", user=user)

    assert event is None
    assert AliasEvent.objects.count() == 1
    after = ModelAlias.objects.get(alias="production")
    assert after.updated_at == before.updated_at and after.updated_by is None


def test_aliases_of_different_names_and_models_are_independent(v1, v2, register):
    iris = register("iris")
    services.model_alias_set(model_version=v1, alias="production")
    services.model_alias_set(model_version=v2, alias="staging")
    services.model_alias_set(model_version=iris, alias="production")

    pointing = {(a.model.name, a.alias): a.version for a in ModelAlias.objects.all()}
    assert pointing == {
        ("digits", "production"): v1,
        ("digits", "staging"): v2,
        ("iris", "production"): iris,
    }


@pytest.mark.parametrize(
    "alias", ["Prod!", "1", "", "Production", "-x", "a" * 65, "two words", "production\n"]
)
def test_it_rejects_an_invalid_alias_and_changes_nothing(
    alias, v1, django_capture_on_commit_callbacks
):
    message = re.escape(f"invalid alias {alias!r}: an alias starts with a lowercase letter")
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(services.RegistryError, match=message),
    ):
        services.model_alias_set(model_version=v1, alias=alias)

    assert not ModelAlias.objects.exists() and not AliasEvent.objects.exists()
    assert queued_tasks("default") == []


def test_the_mlflow_mirror_is_queued_only_after_commit(v1, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.model_alias_set(model_version=v1, alias="production")
        # The worker must not read the alias before the transaction that set it commits.
        assert queued_tasks("default") == []

    assert queued_tasks("default") == [(MIRROR, [v1.model_id, "production"])]


def test_an_unchanged_alias_queues_no_mirror(v1, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.model_alias_set(model_version=v1, alias="production")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.model_alias_set(model_version=v1, alias="production")

    assert callbacks == []
    assert queued_tasks("default") == [(MIRROR, [v1.model_id, "production"])]


# --- the MLflow registry mirror ----------------------------------------------------------------


@pytest.fixture(scope="module")
def logged_model_uri():
    """A small Keras model logged in a real MLflow run, as a training run leaves it."""
    import keras

    from hpml_portal import mlflow_client

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    with mlflow_client.tracked_run(experiment="registry-tests", run_name="mirror", tags={}) as run:
        return run.log_model_later(model, example=np.zeros((1, 4), np.float32)).result()


@pytest.fixture(scope="module")
def mlflow_model(logged_model_uri):
    """A model of the default team with two versions in the MLflow registry, where its name
    carries its team's (MLflow's names are global)."""
    from hpml_portal import mlflow_client

    first = mlflow_client.register_model(logged_model_uri, "default.mirrored")
    second = mlflow_client.register_model(logged_model_uri, "default.mirrored")
    return "mirrored", first, second


def mlflow_registry() -> mlflow.MlflowClient:
    return mlflow.MlflowClient(settings.MLFLOW_TRACKING_URI)


def mlflow_alias(name: str, alias: str) -> str | None:
    try:
        return str(mlflow_registry().get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


# The MLflow store lives for the whole session while the database is rolled back after each
# test, so every test below works on an alias of its own.


def test_the_mirror_sets_the_alias_in_the_mlflow_registry(register, mlflow_model):
    name, first, _ = mlflow_model
    version = register(name, mlflow_version=first)
    services.model_alias_set(model_version=version, alias="production")

    tasks.mirror_alias(version.model_id, "production")

    assert mlflow_alias(f"default.{name}", "production") == first


def test_the_mirror_follows_an_alias_that_moved(register, mlflow_model):
    name, first, second = mlflow_model
    old, new = register(name, mlflow_version=first), register(name, mlflow_version=second)
    services.model_alias_set(model_version=old, alias="staging")
    services.model_alias_mirror(model_id=old.model_id, alias="staging")
    assert mlflow_alias(f"default.{name}", "staging") == first

    services.model_alias_set(model_version=new, alias="staging")
    services.model_alias_mirror(model_id=new.model_id, alias="staging")

    assert mlflow_alias(f"default.{name}", "staging") == second


def test_the_mirror_removes_an_mlflow_alias_that_we_do_not_have(register, mlflow_model):
    name, first, _ = mlflow_model
    version = register(name, mlflow_version=first)
    mlflow_registry().set_registered_model_alias(f"default.{name}", "canary", first)

    services.model_alias_mirror(model_id=version.model_id, alias="canary")

    assert mlflow_alias(f"default.{name}", "canary") is None


def test_an_alias_on_a_version_unknown_to_mlflow_is_removed_there(register, mlflow_model):
    name, first, _ = mlflow_model
    version = register(name)  # registered without an MLflow version
    mlflow_registry().set_registered_model_alias(f"default.{name}", "shadow", first)
    services.model_alias_set(model_version=version, alias="shadow")

    services.model_alias_mirror(model_id=version.model_id, alias="shadow")

    assert mlflow_alias(f"default.{name}", "shadow") is None


def test_a_version_from_an_mlflow_run_is_mirrored_after_commit(
    register, logged_model_uri, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        version = register("fresh", mlflow_model_uri=logged_model_uri)

    # One mirror queued on commit (the others expire the serving caches).
    assert len([c for c in callbacks if c is not expire_all]) == 1
    assert ("models_registry.tasks.mirror_version", [version.pk]) in queued_tasks("default")
    assert version.mlflow_version == ""


def test_mirroring_a_version_registers_it_once_and_brings_its_aliases(register, logged_model_uri):
    version = register("late", mlflow_model_uri=logged_model_uri)
    # Promoted before the mirror ran: the alias mirror found no MLflow version to point at.
    services.model_alias_set(model_version=version, alias="production")
    with pytest.raises(services.MirrorNotReady):  # the version's own mirror sets it after
        services.model_alias_mirror(model_id=version.model_id, alias="production")
    assert mlflow_alias("default.late", "production") is None
    assert ModelAlias.objects.get(alias="production").mirror_state == "pending"

    tasks.mirror_version(version.pk)
    tasks.mirror_version(version.pk)

    version.refresh_from_db()
    assert version.mlflow_version == "1"
    assert len(mlflow_registry().search_model_versions("name='default.late'")) == 1
    assert mlflow_alias("default.late", "production") == "1"
    assert version.mirror_state == "ok" and version.mirror_error == ""
    assert ModelAlias.objects.get(alias="production").mirror_state == "ok"


def test_a_failed_mirror_is_recorded_on_the_version_and_queued_again_later(register):
    from datetime import timedelta

    version = register("broken", mlflow_model_uri="runs:/no-such-run/model")
    assert version.mirror_state == "pending"

    with pytest.raises(Exception):  # noqa: B017 (whatever MLflow raises for a missing run)
        tasks.mirror_version(version.pk)

    version.refresh_from_db()
    assert version.mirror_state == "pending" and version.mirror_attempts == 1
    assert "no-such-run" in version.mirror_error
    services.mirror_failed(version_id=version.pk, error="gave up", final=True)
    ModelVersion.objects.filter(pk=version.pk).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )
    fresh = register("fresh", mlflow_model_uri="runs:/other/model")  # being mirrored now

    queued = services.mirror_catch_up(older_than=timedelta(minutes=5))

    assert queued == [f"version {version.pk}"]
    assert ("models_registry.tasks.mirror_version", [version.pk]) in queued_tasks("default")
    assert ModelVersion.objects.get(pk=version.pk).mirror_state == "failed"
    assert fresh.mirror_state == "pending"


def test_the_mirror_of_a_model_mlflow_never_saw_is_a_no_op(v1):
    services.model_alias_set(model_version=v1, alias="production")

    services.model_alias_mirror(model_id=v1.model_id, alias="production")

    assert ModelAlias.objects.get(alias="production").version == v1


# --- selectors ---------------------------------------------------------------------------------


def resolve(name: str, **kwargs):
    model = selectors.registered_model_get(user=None, name=name)
    return selectors.model_version_resolve(model, **kwargs)


def test_a_version_is_resolved_by_number(v1, v2):
    assert resolve("digits", version=1) == v1
    assert resolve("digits", version=2, alias="staging") == v2


def test_a_version_is_resolved_by_alias_and_production_by_default(v1, v2):
    services.model_alias_set(model_version=v1, alias="production")
    services.model_alias_set(model_version=v2, alias="staging")

    assert resolve("digits") == v1
    assert resolve("digits", alias="staging") == v2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": 1}, "there is no model named 'nope'"),
        ({"alias": "staging"}, "there is no model named 'nope'"),
        ({}, "there is no model named 'nope'"),
    ],
)
def test_an_unknown_model_is_not_found(kwargs, message, v1):
    with pytest.raises(selectors.ModelNotFound, match=message):
        resolve("nope", **kwargs)


def test_an_unknown_version_is_not_found(v1):
    with pytest.raises(selectors.ModelNotFound, match="model 'digits' has no version 7"):
        resolve("digits", version=7)


def test_an_alias_that_points_nowhere_is_not_set_rather_than_not_found(v1):
    with pytest.raises(selectors.AliasNotSet, match="model 'digits' has no 'production' alias"):
        resolve("digits")
    with pytest.raises(selectors.AliasNotSet, match="no 'canary' alias"):
        resolve("digits", alias="canary")


def test_an_alias_of_another_model_does_not_count(v1, register):
    services.model_alias_set(model_version=register("iris"), alias="production")

    with pytest.raises(selectors.AliasNotSet):
        resolve("digits")


def test_the_model_list_counts_versions_and_finds_the_latest(v2, register):
    register("iris")
    models = selectors.registered_model_list(user=None)

    listed = [(m.name, m.version_count, m.latest_version) for m in models]

    assert listed == [("digits", 2, 2), ("iris", 1, 1)]


def test_lineage_of_a_version_without_a_run_is_just_the_version(v1):
    lineage = selectors.model_version_lineage(v1)

    assert lineage == {
        "team": "default",
        "model": "digits",
        "version": 1,
        "sha256": v1.sha256,
        "mlflow_version": "",
        "training_run": None,
        "datasets": [],
    }


@pytest.fixture
def trained_version(ready_version, register):
    """A version trained on a processed child of a raw dataset version."""
    processed = DatasetVersion.objects.create(
        dataset=ready_version.dataset,
        version=2,
        status=DatasetVersion.Status.READY,
        format=DatasetVersion.Format.NPZ,
        sha256="c" * 64,
        source=f"processed:{ready_version.ref}",
        parent=ready_version,
        recipe={"normalize": "minmax", "split": [0.7, 0.15, 0.15]},
    )
    run = TrainingRun.objects.create(
        experiment=Experiment.objects.create(name="baseline", team=ready_version.dataset.team),
        dataset_version=processed,
        architecture="mlp",
        hyperparameters={"epochs": 3},
        model_name="blobs",
        status=TrainingRun.Status.SUCCEEDED,
        mlflow_run_id="abc123",
    )
    return register("blobs", run=run, dataset_version=processed, mlflow_version="4")


def test_lineage_walks_the_run_and_every_dataset_parent(trained_version, ready_version):
    lineage = selectors.model_version_lineage(trained_version)

    assert lineage["training_run"] == {
        "id": trained_version.run_id,
        "experiment": "baseline",
        "status": "SUCCEEDED",
        "architecture": "mlp",
        "hyperparameters": {"epochs": 3},
        "mlflow_run_id": "abc123",
    }
    assert lineage["mlflow_version"] == "4"
    assert [d["ref"] for d in lineage["datasets"]] == ["blobs:2", "blobs:1"]
    processed, raw = lineage["datasets"]
    assert processed["recipe"]["normalize"] == "minmax"
    assert processed["source"] == "processed:blobs:1"
    assert raw == {
        "id": ready_version.pk,
        "ref": "blobs:1",
        "sha256": ready_version.sha256,
        "source": ready_version.source,
        "recipe": None,
    }
