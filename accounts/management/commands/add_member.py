from django.core.management.base import BaseCommand, CommandError

from hpml_portal.errors import ServiceError

from ...models import Role, Team
from ...services import membership_remove, membership_set, user_get_or_create


class Command(BaseCommand):
    help = (
        "Give USERNAME a role in TEAM (replacing the role they had there). A user that does "
        "not exist is created without a password: set one in the admin, or let them sign on "
        "with the identity service. --remove takes them out of the team."
    )

    def add_arguments(self, parser):
        parser.add_argument("team")
        parser.add_argument("username")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--role", choices=Role.values)
        action.add_argument("--remove", action="store_true", help="remove USERNAME from TEAM")

    def handle(self, *args, team, username, role, remove, **options):
        found = Team.objects.filter(slug=team).first()
        if found is None:
            raise CommandError(f"there is no team {team!r} (create_team makes one)")
        try:
            if remove:
                return self._remove(found, username)
            user, created = user_get_or_create(username=username)
            if created:
                self.stdout.write(f"created user {username} (no password)")
            changed = membership_set(team=found, user=user, role=role)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        state = "is now" if changed is not None else "already is"
        self.stdout.write(f"{username} {state} {role} in team {found.slug}")

    def _remove(self, team: Team, username: str) -> None:
        from ...selectors import user_get

        if not membership_remove(team=team, user=user_get(username)):
            raise CommandError(f"{username} is not a member of team {team.slug}")
        self.stdout.write(f"removed {username} from team {team.slug}")
