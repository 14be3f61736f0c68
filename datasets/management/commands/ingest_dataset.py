from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments, one_line_errors
from accounts.selectors import team_for_create
from hpml_portal.errors import ServiceError
from hpml_portal.management.waiting import add_wait_arguments

from ...selectors import DatasetNotFound, dataset_get
from ...services import IngestSource, dataset_version_ingest
from ..reporting import report_queued


class Command(BaseCommand):
    help = (
        "Ingest a new version of dataset NAME from a file, a URL (http, https, s3), one SQL "
        "SELECT against SQL_SOURCE_URL, or a built-in data set. A worker fetches, checks and "
        "describes the content; without --wait the version's id is the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="dataset name (created on first use)")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", type=Path, help="an .npz, .csv or .parquet file")
        source.add_argument(
            "--url", help="http(s):// or s3://bucket/key of an .npz, .csv or .parquet file"
        )
        source.add_argument("--sql", help="one SELECT against SQL_SOURCE_URL (read-only)")
        source.add_argument("--builtin", help="a data set shipped in a package: digits")
        parser.add_argument(
            "--label-column", default="", help="label column of a .csv/.parquet or query (label)"
        )
        add_actor_arguments(parser)
        add_wait_arguments(parser)

    @one_line_errors
    def handle(
        self, *args, name, file, builtin, url, sql, label_column, user, team, wait, timeout, **opts
    ):
        actor = actor_from(user)
        try:
            owner = self._team(actor, name, team)
            if file is not None:
                version, created = self._ingest_file(name, file, label_column, owner, actor)
            else:
                source = (
                    IngestSource.builtin(builtin)
                    if builtin
                    else IngestSource.url(url, label_column)
                    if url
                    else IngestSource.sql(sql, label_column)
                )
                version, created = dataset_version_ingest(
                    dataset_name=name, team=owner, source=source, user=actor
                )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        report_queued(self, version, created, wait=wait, timeout=timeout)

    @staticmethod
    def _team(actor, name: str, team: str | None):
        """--team, else the team of the dataset of that name, else where new ones go."""
        if not team:
            try:
                return dataset_get(user=actor, name=name).team
            except DatasetNotFound:
                pass
        return team_for_create(user=actor, slug=team)

    def _ingest_file(self, name: str, file: Path, label_column: str, team, actor):
        if not file.is_file():
            raise CommandError(f"no such file: {file}")
        return dataset_version_ingest(
            dataset_name=name,
            team=team,
            source=IngestSource.local_file(file, label_column),
            user=actor,
        )
