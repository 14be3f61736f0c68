"""The default team (rows older than teams, and commands run without --team, go there), and
the API tokens made before tokens were hashed, kept working under their hash."""

import hashlib

from django.db import migrations


def forwards(apps, schema_editor):
    Team = apps.get_model("accounts", "Team")
    ApiToken = apps.get_model("accounts", "ApiToken")
    Team.objects.get_or_create(slug="default", defaults={"name": "Default"})
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        ApiToken.objects.get_or_create(
            key_hash=hashlib.sha256(key.encode()).hexdigest(),
            defaults={
                "user_id": user_id,
                "name": "made before teams",
                "prefix": key[:6],
                "predict_models": [],
            },
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
