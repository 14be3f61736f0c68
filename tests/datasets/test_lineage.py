"""Lineage of dataset versions: where a version came from (its processed ancestors), what was
made from it (descendants), and the training runs and model versions that used it; read in a
fixed number of queries whatever the depth."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from datasets.ingest import dataset_version_execute
from datasets.selectors import dataset_version_transforms
from tests.factories import (
    DatasetVersionFactory,
    ModelVersionFactory,
    TrainingRunFactory,
)


def lineage_url(version) -> str:
    return f"/api/v1/dataset-versions/{version.pk}/lineage/"


def chain(team, length: int) -> list:
    """``length`` versions of one dataset, each processed from the one before."""
    versions = [DatasetVersionFactory(dataset__team=team)]
    for step in range(length - 1):
        versions.append(
            DatasetVersionFactory(
                dataset=versions[0].dataset,
                parent=versions[-1],
                source_kind="process",
                recipe={"spec": {"normalize": "minmax", "seed": step}},
            )
        )
    return versions


@pytest.mark.django_db
def test_lineage_shows_ancestors_descendants_runs_and_model_versions(api_client, team):
    root, middle, leaf = chain(team, 3)
    sibling = DatasetVersionFactory(dataset=root.dataset, parent=root)
    run = TrainingRunFactory(dataset_version=middle, experiment__team=team)
    model_version = ModelVersionFactory(dataset_version=middle, model__team=team, run=run)

    body = api_client.get(lineage_url(middle)).json()

    assert body["version"]["ref"] == middle.ref and body["version"]["parent"] == root.pk
    assert [n["id"] for n in body["ancestors"]] == [root.pk]
    assert [n["id"] for n in body["descendants"]] == [leaf.pk]
    assert body["descendants"][0]["recipe"] == {"normalize": "minmax", "seed": 1}
    assert body["training_runs"] == [
        {
            "id": run.pk,
            "experiment": run.experiment.name,
            "status": run.status,
            "architecture": "mlp",
        }
    ]
    assert body["model_versions"] == [
        {
            "id": model_version.pk,
            "model": model_version.model.name,
            "version": model_version.version,
            "sha256": model_version.sha256,
            "run": model_version.run_id,
        }
    ]
    from_root = api_client.get(lineage_url(root)).json()
    assert from_root["ancestors"] == []
    # Nearest first: both children, then the grandchild.
    assert [n["id"] for n in from_root["descendants"]] == [middle.pk, sibling.pk, leaf.pk]
    assert from_root["training_runs"] == [] and from_root["model_versions"] == []


@pytest.mark.django_db
def test_ancestors_are_listed_nearest_first(api_client, team):
    versions = chain(team, 4)

    body = api_client.get(lineage_url(versions[-1])).json()

    assert [n["id"] for n in body["ancestors"]] == [v.pk for v in reversed(versions[:-1])]
    assert [n["ref"] for n in body["ancestors"]] == [v.ref for v in reversed(versions[:-1])]
    assert body["descendants"] == []


def _lineage_queries(client, version) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(lineage_url(version)).status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_lineage_costs_the_same_queries_whatever_the_depth(
    api_client, team, django_assert_max_num_queries
):
    short, long = chain(team, 2), chain(team, 6)
    for version in (short[0], long[0], long[3]):
        TrainingRunFactory(dataset_version=version, experiment__team=team)
        ModelVersionFactory(dataset_version=version, model__team=team)
    for _ in range(4):  # more users cost no more either
        ModelVersionFactory(
            dataset_version=long[3],
            model__team=team,
            run=TrainingRunFactory(dataset_version=long[3], experiment__team=team),
        )
    api_client.get("/api/v1/datasets/")  # the token's first use is recorded once

    # The first and last of a chain of 2 cost what those of a chain of 6 cost, and every
    # version in between (1 to 4 ancestors, 1 to 4 descendants) costs the same.
    assert _lineage_queries(api_client, long[0]) == _lineage_queries(api_client, short[0])
    assert _lineage_queries(api_client, long[-1]) == _lineage_queries(api_client, short[-1])
    middles = {_lineage_queries(api_client, version) for version in long[1:-1]}
    assert len(middles) == 1
    with django_assert_max_num_queries(9):
        body = api_client.get(lineage_url(long[3])).json()
    assert len(body["ancestors"]) == 3 and len(body["descendants"]) == 2
    assert len(body["training_runs"]) == 5 and len(body["model_versions"]) == 5


@pytest.mark.django_db
def test_processing_twice_records_both_recipes_in_the_lineage(
    api_client, ready_version, django_capture_on_commit_callbacks
):
    def process(version_id: int, recipe: dict) -> int:
        answer = api_client.post(
            f"/api/v1/dataset-versions/{version_id}/process/", recipe, format="json"
        )
        assert answer.status_code == 202, answer.content
        with django_capture_on_commit_callbacks(execute=True):
            made = dataset_version_execute(version_id=answer.json()["id"])
        assert made.status == "READY", made.error
        return made

    split = process(ready_version.pk, {"split": [0.8, 0.1, 0.1], "seed": 2})
    scaled = process(split.pk, {"normalize": "standard"})

    body = api_client.get(lineage_url(scaled)).json()

    assert [n["ref"] for n in body["ancestors"]] == ["blobs:2", "blobs:1"]
    assert body["ancestors"][0]["recipe"]["split"] == [0.8, 0.1, 0.1]
    assert body["version"]["recipe"]["normalize"] == "standard"
    # The split made by the parent is kept, and normalisation is fitted on its training rows.
    assert scaled.schema["split_sizes"] == split.schema["split_sizes"]
    assert scaled.recipe["normalize"]["fitted_on"] == "train"
    transforms = dataset_version_transforms(scaled)
    assert [t["spec"] for t in transforms] == [split.recipe["spec"], scaled.recipe["spec"]]
    root = api_client.get(lineage_url(ready_version)).json()
    assert [n["id"] for n in root["descendants"]] == [split.pk, scaled.pk]
