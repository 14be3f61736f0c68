from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from hpml_portal.env import env


class Command(BaseCommand):
    help = (
        "Create or update an admin (superuser) account, idempotently. The password comes from "
        "--password-file, the DJANGO_SUPERUSER_PASSWORD environment variable or the file named by "
        "DJANGO_SUPERUSER_PASSWORD_FILE. It must pass the password validators "
        "(AUTH_PASSWORD_VALIDATORS: at least 8 characters, not like the username)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password-file", help="file holding the password")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, password_file, email, **options):
        if password_file:
            try:
                with open(password_file) as f:
                    password = f.read().strip()
            except OSError as exc:
                raise CommandError(f"cannot read {password_file}: {exc.strerror}") from exc
        else:
            password = env("DJANGO_SUPERUSER_PASSWORD", default="")
        if not password:
            raise CommandError("no password: pass --password-file or set DJANGO_SUPERUSER_PASSWORD")
        users = get_user_model().objects
        user = users.filter(username=username).first()
        created = user is None
        if created:
            user = users.model(username=username, email=email)
        try:  # the same rules as the admin's password forms (AUTH_PASSWORD_VALIDATORS)
            validate_password(password, user=user)
        except ValidationError as exc:
            raise CommandError(f"password refused: {' '.join(exc.messages)}") from exc
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} admin {username}")
