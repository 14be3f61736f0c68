from django.db import migrations
from django.db.models import F


def forwards(apps, schema_editor):
    Team = apps.get_model("accounts", "Team")
    Model = apps.get_model("models_registry", "registeredmodel")
    team, _ = Team.objects.get_or_create(slug="default", defaults={"name": "Default"})
    Model.objects.filter(team__isnull=True).update(team=team)
    # Models registered before teams keep their MLflow name; new ones are "team.name".
    Model.objects.filter(mlflow_name="").update(mlflow_name=F("name"))


class Migration(migrations.Migration):
    dependencies = [
        ("models_registry", "0002_teams"),
        ("accounts", "0002_default_team_and_old_tokens"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
