"""An installation from before ingestion moved to the worker upgrades in place, and back."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_JOBS = [("datasets", "0004_team_required"), ("experiments", "0004_team_required")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _insert_version(cursor, dataset_id: int, version: int, status: str, source: str) -> None:
    cursor.execute(
        "INSERT INTO datasets_datasetversion (dataset_id, version, status, file, sha256, "
        "size_bytes, format, source, label_column, schema, stats, error, created_at) VALUES "
        "(%s, %s, %s, %s, %s, 10, 'npz', %s, '', '{}', '{}', '', now())",
        [
            dataset_id,
            version,
            status,
            f"datasets/default/d/{'a' * 63}{version}.npz",
            f"{'a' * 63}{version}",
            source,
        ],
    )


@pytest.mark.django_db(transaction=True)
def test_versions_never_checked_before_the_upgrade_end_failed_and_can_be_retried():
    from accounts.selectors import team_default

    team = team_default()
    migrate(BEFORE_JOBS)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO datasets_dataset (team_id, name, description, created_at) "
                "VALUES (%s, 'd', '', now()) RETURNING id",
                [team.pk],
            )
            (dataset_id,) = cursor.fetchone()
            _insert_version(cursor, dataset_id, 1, "READY", "builtin:digits")
            _insert_version(cursor, dataset_id, 2, "PENDING", "upload:d.npz")

        migrate(latest())

        from datasets.models import DatasetVersion

        ready, pending = DatasetVersion.objects.order_by("version")
        assert (ready.status, ready.source_kind) == ("READY", "builtin")
        assert pending.status == "FAILED" and "retry it" in pending.error
        assert pending.file.name == "" and pending.sha256 == ""
        assert pending.source_spec == {
            "staging": f"datasets/default/d/{'a' * 63}2.npz",
            "sha256": f"{'a' * 63}2",
            "size": 10,
        }

        DatasetVersion.objects.filter(pk=pending.pk).update(status="INGESTING")
        migrate(BEFORE_JOBS)  # and back: INGESTING is a word the old schema does not know
        with connection.cursor() as cursor:
            cursor.execute("SELECT status FROM datasets_datasetversion ORDER BY version")
            assert [row[0] for row in cursor.fetchall()] == ["READY", "PENDING"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM datasets_datasetversion")
        migrate(latest())
