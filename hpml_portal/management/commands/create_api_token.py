from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print the API token of USERNAME (made on first use). A user that does not exist is "
        "created without a password, as a service account. The token is the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--rotate", action="store_true", help="replace the user's token with a new one"
        )

    def handle(self, *args, username, rotate, **options):
        if not username.strip():
            raise CommandError("the username is empty")
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            self.stdout.write(f"created user {username} (API only, no password)")
        if not user.is_active:
            raise CommandError(f"user {username} is inactive")
        if rotate:
            Token.objects.filter(user=user).delete()
        token, made = Token.objects.get_or_create(user=user)
        self.stdout.write(f"{'new' if made else 'existing'} API token for {username}:")
        self.stdout.write(token.key)
