from django.db import migrations


def forwards(apps, schema_editor):
    Team = apps.get_model("accounts", "Team")
    Model = apps.get_model("datasets", "dataset")
    team, _ = Team.objects.get_or_create(slug="default", defaults={"name": "Default"})
    Model.objects.filter(team__isnull=True).update(team=team)


class Migration(migrations.Migration):
    dependencies = [("datasets", "0002_teams"), ("accounts", "0002_default_team_and_old_tokens")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
