from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.cli import actor_from, add_actor_arguments
from accounts.selectors import team_for_create
from hpml_portal.errors import ServiceError
from hpml_portal.management.waiting import add_wait_arguments, wait_for_status

from ...models import DatasetVersion
from ...selectors import DatasetNotFound, dataset_get
from ...services import IngestSource, dataset_version_ingest


class Command(BaseCommand):
    help = (
        "Ingest a new version of dataset NAME from a file or a built-in data set. The content "
        "is stored and checked on a worker; without --wait the version's id is the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="dataset name (created on first use)")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", type=Path, help="an .npz, .csv or .parquet file")
        source.add_argument("--builtin", help="a data set shipped in a package: digits")
        source.add_argument("--url", help="not available yet")
        source.add_argument("--sql", help="not available yet")
        parser.add_argument("--label-column", default="", help="label column of a .csv/.parquet")
        add_actor_arguments(parser)
        add_wait_arguments(parser)

    def handle(
        self, *args, name, file, builtin, url, sql, label_column, user, team, wait, timeout, **opts
    ):
        if url or sql:
            raise CommandError("ingestion from --url or --sql is not available yet: use --file")
        actor = actor_from(user)
        try:
            owner = self._team(actor, name, team)
            if builtin:
                version, created = dataset_version_ingest(
                    dataset_name=name, team=owner, source=IngestSource.builtin(builtin), user=actor
                )
            else:
                version, created = self._ingest_file(name, file, label_column, owner, actor)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        version.refresh_from_db()
        if version.status == DatasetVersion.Status.FAILED:
            raise CommandError(f"{version.ref}: {version.error}")
        if created:
            self.stdout.write(f"queued {version.ref} (id {version.pk}) from {version.source}")
        else:
            self.stdout.write(
                f"{version.ref} (id {version.pk}) already holds this content ({version.status})"
            )
        if not wait:
            self.stdout.write(str(version.pk))
            return

        def fetch():
            version.refresh_from_db()
            return version.status, version.error

        wait_for_status(
            fetch,
            terminal=DatasetVersion.TERMINAL,
            success=DatasetVersion.Status.READY,
            stdout=self.stdout,
            timeout=timeout,
        )

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
        with open(file, "rb") as stream:
            return dataset_version_ingest(
                dataset_name=name,
                team=team,
                source=IngestSource.upload(stream, file.name, label_column),
                user=actor,
            )
