"""An installation from before teams upgrades in place: its rows go to the default team, its
models keep their MLflow names and its API tokens keep working."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_TEAMS = [
    ("datasets", "0001_initial"),
    ("experiments", "0001_initial"),
    ("models_registry", "0001_initial"),
    ("accounts", None),
]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.fixture
def before_teams(transactional_db):
    migrate(BEFORE_TEAMS)
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS authtoken_token")
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_rows_from_before_teams_move_to_the_default_team(before_teams, django_user_model):
    robot = django_user_model.objects.create_user(username="robot")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO datasets_dataset (name, description, created_at) "
            "VALUES ('digits', '', now())"
        )
        cursor.execute(
            "INSERT INTO models_registry_registeredmodel (name, description, created_at) "
            "VALUES ('digits', '', now())"
        )
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "user_id integer NOT NULL, created timestamptz NOT NULL)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, now())", ["f" * 40, robot.pk])

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from accounts.services import api_token_authenticate
    from datasets.models import Dataset
    from models_registry.models import RegisteredModel

    assert Dataset.objects.get(name="digits").team.slug == "default"
    model = RegisteredModel.objects.get(name="digits")
    assert (model.team.slug, model.mlflow_name) == ("default", "digits")
    assert api_token_authenticate("f" * 40).user == robot
