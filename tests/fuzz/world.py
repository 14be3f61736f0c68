"""The data the API fuzz runs against: two teams, each with the built-in digits data set
ingested for real (a READY version whose file is in storage), an experiment with a finished
run, a sweep, a registered model whose version 1 (a real Keras model trained here) is the
``production`` alias, and a logged prediction; a user of each role in team A, with a token.

Run in the fuzz's own database (``python -m tests.fuzz.world``): it prints one JSON object,
the tokens and the ids the fuzzer's path parameters are drawn from.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

ROLES = ("viewer", "scientist", "approver", "predictor")
TEAMS = ("fuzz-a", "fuzz-b")


def _trained_model(folder: Path):
    """A small MLP trained on the digits for 3 epochs (about 10 s), saved as .keras."""
    from sklearn.datasets import load_digits

    from experiments.training import trainer

    digits = load_digits()
    result = trainer.train(
        digits.data, digits.target, architecture="mlp", hyperparameters={"epochs": 3}
    )
    path = folder / "digits.keras"
    result.model.save(path)
    return path, result


def _team(slug: str, model_file) -> dict:
    from django.utils import timezone

    from accounts.services import team_create
    from datasets.ingest import dataset_version_execute
    from datasets.services import IngestSource, dataset_version_ingest
    from experiments.models import TrainingRun
    from experiments.services import experiment_get_or_create
    from inference.models import PredictionLog
    from models_registry.services import model_alias_set
    from tests.factories import SweepFactory, TrainingRunFactory
    from tests.helpers import register_trained_digits

    path, result = model_file
    team = team_create(slug=slug)
    pending, _ = dataset_version_ingest(
        dataset_name="digits", source=IngestSource.builtin("digits"), team=team
    )
    version = dataset_version_execute(version_id=pending.pk)
    experiment = experiment_get_or_create(name="baseline", team=team)
    now = timezone.now()
    run = TrainingRunFactory(
        experiment=experiment,
        dataset_version=version,
        model_name="digits",
        hyperparameters={"epochs": 3},
        status=TrainingRun.Status.SUCCEEDED,
        progress=1.0,
        metrics=result.test_metrics,
        started_at=now,
        finished_at=now,
    )
    sweep = SweepFactory(
        experiment=experiment,
        dataset_version=version,
        model_name="digits",
        space={"epochs": [1, 2]},
    )
    model_version = register_trained_digits(
        path, result, team=team, architecture="mlp", run=run, dataset_version=version
    )
    model_alias_set(model_version=model_version, alias="production")
    log = PredictionLog.objects.create(
        model_version=model_version,
        model_name="digits",
        requested="alias:production",
        outcome=PredictionLog.Outcome.OK,
        instances=1,
        predictions=[result.classes[0]],
    )
    return {
        "team": team,
        "ids": [version.dataset_id, version.pk, experiment.pk, run.pk, sweep.pk, log.pk],
        "dataset_version": version.pk,
    }


def build(folder: Path) -> dict:
    """Make the world; return what the fuzz needs to know of it."""
    from accounts.services import api_token_create
    from tests.factories import member

    model_file = _trained_model(folder)
    teams = [_team(slug, model_file) for slug in TEAMS]
    member(teams[1]["team"], "scientist", username="fuzz-b-scientist")
    keys = {}
    for role in ROLES:
        user = member(teams[0]["team"], role, username=f"fuzz-{role}")
        keys[role] = api_token_create(user=user)[1]
    return {
        "keys": keys,
        "teams": list(TEAMS),
        "ids": sorted({pk for team in teams for pk in team["ids"]}),
        "dataset_versions": [team["dataset_version"] for team in teams],
    }


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hpml_portal.settings")
    import django

    django.setup()
    with tempfile.TemporaryDirectory(prefix="hpml-fuzz-model-") as folder:
        world = build(Path(folder))
    print(json.dumps(world))
    return 0


if __name__ == "__main__":
    sys.exit(main())
