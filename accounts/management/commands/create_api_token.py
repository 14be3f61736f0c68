from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from hpml_portal.errors import ServiceError

from ... import access, selectors
from ...models import ApiToken
from ...services import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = (
        "Make a new API token for USERNAME (an existing user: add_member, the admin or sign-on "
        "make users) and print it; the token is the last line and is not shown again. "
        "--predict-only limits it to predicting with the named models."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--predict-only",
            metavar="MODEL[,MODEL...]",
            help="the only models the token may predict with: NAME, or TEAM/NAME",
        )
        parser.add_argument("--team", help="the team of the models named without one")
        parser.add_argument("--name", default="", help="what the token is for")
        parser.add_argument("--expires-in-days", type=int, help="the token stops working then")
        parser.add_argument(
            "--rotate", action="store_true", help="revoke the user's other tokens first"
        )

    def handle(self, *args, username, predict_only, team, name, expires_in_days, rotate, **opts):
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1")
        try:
            user = selectors.user_get(username)
            models = self._models(user, predict_only, team)
            expires = None
            if expires_in_days is not None:
                expires = timezone.now() + timedelta(days=expires_in_days)
            with transaction.atomic():  # a refused new token keeps the old ones
                revoked = []
                if rotate:
                    for old in ApiToken.objects.filter(user=user, revoked_at__isnull=True):
                        api_token_revoke(token=old)
                        revoked.append(old.prefix)
                token, key = api_token_create(
                    user=user, name=name, predict_models=models, expires_at=expires
                )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        for prefix in revoked:
            self.stdout.write(f"revoked token {prefix}…")
        scope = f"may only predict with {', '.join(models)}" if models else "acts with all roles"
        self.stdout.write(f"new API token {token.prefix}… for {username} ({scope}):")
        self.stdout.write(key)

    def _models(self, user, names: str | None, team: str | None) -> list[str]:
        if names is None:
            return []
        listed = [n.strip() for n in names.split(",") if n.strip()]
        if not listed:
            raise CommandError("--predict-only needs at least one model name")
        return [n if "/" in n else f"{self._team(user, team)}/{n}" for n in listed]

    def _team(self, user, team: str | None) -> str:
        if team:
            return team
        teams = list(selectors.team_list(user=user, capability=access.Capability.PREDICT)[:10])
        if len(teams) != 1:
            raise CommandError(
                f"{user.get_username()} is in {len(teams)} teams that may predict: name the "
                "models as TEAM/NAME or pass --team"
            )
        return teams[0].slug
