from django.core.management.base import BaseCommand, CommandError

from hpml_portal.errors import ServiceError

from ...services import team_create


class Command(BaseCommand):
    help = "Create a team: datasets, experiments and models belong to one."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the team's slug (letters, digits, - and _)")
        parser.add_argument("--display-name", default="", help="a longer name for people")

    def handle(self, *args, name, display_name, **options):
        try:
            team = team_create(slug=name, name=display_name)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"created team {team.slug} (id {team.pk})")
