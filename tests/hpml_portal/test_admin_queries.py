"""Every admin page reads a bounded number of queries, whatever the number of rows: each
kind here has 55 rows in the person's team."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import api_token_create
from inference.models import PredictionLog, ServingCount
from models_registry.models import AliasEvent, ModelAlias
from tests.factories import (
    DatasetVersionFactory,
    ExperimentFactory,
    MembershipFactory,
    ModelVersionFactory,
    SweepFactory,
    TeamFactory,
    TrainingRunFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ROWS = 55
MAX_QUERIES = 20
PAGES = [
    "/admin/",
    "/admin/dashboard.json",
    "/admin/datasets/dataset/",
    "/admin/datasets/datasetversion/",
    "/admin/experiments/experiment/",
    "/admin/experiments/trainingrun/",
    "/admin/experiments/sweep/",
    "/admin/models_registry/registeredmodel/",
    "/admin/models_registry/modelversion/",
    "/admin/models_registry/aliasevent/",
    "/admin/inference/predictionlog/",
    "/admin/inference/servingcount/",
    "/admin/accounts/apitoken/",
    "/admin/accounts/team/",
]


@pytest.fixture
def crowd(client):
    team = TeamFactory(slug="crowd")
    person = UserFactory()
    MembershipFactory(team=team, user=person, role="approver")
    now = timezone.now()
    for n in range(ROWS):
        version = DatasetVersionFactory(dataset__team=team)
        experiment = ExperimentFactory(team=team)
        TrainingRunFactory(experiment=experiment, dataset_version=version)
        SweepFactory(experiment=experiment, dataset_version=version)
        model_version = ModelVersionFactory(model__team=team)
        ModelAlias.objects.create(
            model=model_version.model, alias="production", version=model_version
        )
        AliasEvent.objects.create(
            model=model_version.model, alias="production", to_version=model_version
        )
        PredictionLog.objects.create(
            model_version=model_version,
            model_name=model_version.model.name,
            requested="alias:production",
            outcome="ok",
            instances=1,
            predictions=[0],
            user=person,
        )
        ServingCount.objects.create(
            minute=now - timedelta(minutes=n),
            team_key=team.pk,
            model_name=model_version.model.name,
            version=model_version.version,
            status=200,
            requests=n + 1,
        )
        api_token_create(user=person, name=f"t{n}")
    client.force_login(person)
    return client


@pytest.mark.parametrize("page", PAGES)
def test_each_list_page_reads_a_bounded_number_of_queries(crowd, page):
    crowd.get(page)  # the first request reads what a session keeps afterwards
    with CaptureQueriesContext(connection) as queries:
        answer = crowd.get(page)

    assert answer.status_code == 200
    assert len(queries) < MAX_QUERIES, "\n".join(q["sql"][:160] for q in queries.captured_queries)


@pytest.mark.parametrize(
    "model",
    [
        "datasets.datasetversion",
        "experiments.trainingrun",
        "experiments.sweep",
        "models_registry.registeredmodel",
        "models_registry.modelversion",
    ],
)
def test_each_object_page_reads_a_bounded_number_of_queries(crowd, model):
    from django.apps import apps

    app, name = model.split(".")
    obj = apps.get_model(app, name).objects.order_by("pk").last()
    page = f"/admin/{app}/{name}/{obj.pk}/change/"
    crowd.get(page)
    with CaptureQueriesContext(connection) as queries:
        answer = crowd.get(page)

    assert answer.status_code == 200
    assert len(queries) < MAX_QUERIES, "\n".join(q["sql"][:160] for q in queries.captured_queries)


@pytest.mark.parametrize(
    "model, form",
    [
        ("models_registry.modelversion", "promote/"),
        ("datasets.datasetversion", "train/"),
        ("datasets.datasetversion", "sweep/"),
        ("datasets.datasetversion", "live.json"),
        ("experiments.trainingrun", "live.json"),
        ("experiments.sweep", "live.json"),
    ],
)
def test_each_object_form_reads_a_bounded_number_of_queries(crowd, model, form):
    from django.apps import apps

    app, name = model.split(".")
    obj = apps.get_model(app, name).objects.order_by("pk").last()
    page = f"/admin/{app}/{name}/{obj.pk}/{form}"
    crowd.get(page)
    with CaptureQueriesContext(connection) as queries:
        answer = crowd.get(page)

    assert answer.status_code == 200
    assert len(queries) < MAX_QUERIES, "\n".join(q["sql"][:160] for q in queries.captured_queries)
