"""Two teams may use the same names; the API, the services and the commands tell them apart."""

import io
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Membership
from datasets import services as dataset_services
from datasets.ingest import dataset_version_execute
from datasets.models import Dataset
from experiments import services as training_services
from experiments.models import TrainingRun
from models_registry.models import AliasEvent
from models_registry.services import Artifact, model_alias_set, model_version_register
from tests.conftest import token_client
from tests.factories import (
    DatasetVersionFactory,
    ExperimentFactory,
    ModelVersionFactory,
    TeamFactory,
    member,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def teams():
    return TeamFactory(slug="vision"), TeamFactory(slug="speech")


@pytest.fixture
def both_have_digits(teams):
    vision, speech = teams
    return (
        ModelVersionFactory(model__team=vision, model__name="digits", model__description="v"),
        ModelVersionFactory(model__team=speech, model__name="digits", model__description="s"),
    )


def test_the_same_names_live_in_two_teams(teams):
    vision, speech = teams
    for team in teams:
        dataset_services.dataset_create(name="digits", team=team)
        training_services.experiment_get_or_create(name="baseline", team=team)

    assert Dataset.objects.filter(name="digits").count() == 2
    with pytest.raises(dataset_services.DatasetError, match="team 'vision' already has"):
        dataset_services.dataset_create(name="digits", team=vision)


def test_a_model_name_means_the_callers_own_teams_model(teams, both_have_digits):
    vision, _ = teams
    client = token_client(member(vision, "viewer"))

    answer = client.get("/api/v1/models/digits/")

    assert answer.status_code == 200
    assert (answer.json()["team"], answer.json()["description"]) == ("vision", "v")


def test_a_name_in_several_of_the_callers_teams_needs_the_team(teams, both_have_digits):
    vision, speech = teams
    user = member(vision, "viewer")
    Membership.objects.create(team=speech, user=user, role="viewer")
    client = token_client(user)

    ambiguous = client.get("/api/v1/models/digits/")
    chosen = client.get("/api/v1/models/digits/?team=speech")
    versions = client.get("/api/v1/models/digits/versions/?team=speech")

    assert ambiguous.status_code == 400
    assert "several of your teams (speech, vision)" in ambiguous.json()["detail"]
    assert chosen.status_code == 200 and chosen.json()["description"] == "s"
    assert [v["team"] for v in versions.json()["results"]] == ["speech"]


def test_naming_another_team_answers_404_without_its_data(teams, both_have_digits):
    vision, _ = teams
    client = token_client(member(vision, "approver"))

    for url in (
        "/api/v1/models/digits/?team=speech",
        "/api/v1/models/digits/versions/1/?team=speech",
    ):
        answer = client.get(url)
        assert answer.status_code == 404 and b'"s"' not in answer.content
    promote = client.post(
        "/api/v1/models/digits/versions/1/aliases/?team=speech",
        {"alias": "production"},
        format="json",
    )
    assert promote.status_code == 404 and not AliasEvent.objects.exists()


def test_predicting_picks_the_team_and_a_predict_only_token_keeps_to_its_models(
    teams, model_version
):
    vision, _ = teams
    user = member(vision, "predictor")
    Membership.objects.create(team=model_version.model.team, user=user, role="predictor")
    token = token_client(user, predict_models=["default/digits"])
    model_alias_set(model_version=model_version, alias="production")
    row = {"instances": [[0.0] * 64]}

    allowed = token.post("/api/v1/models/digits/predict/?team=default", row, format="json")
    elsewhere = token.get("/api/v1/datasets/")

    assert allowed.status_code == 200, allowed.content
    assert elsewhere.status_code == 403
    assert "may only predict with default/digits" in elsewhere.json()["detail"]


def test_a_run_cannot_mix_one_teams_experiment_with_anothers_data(teams):
    vision, speech = teams
    user = member(vision, "scientist")
    Membership.objects.create(team=speech, user=user, role="scientist")
    experiment = ExperimentFactory(team=vision)
    foreign = DatasetVersionFactory(dataset__team=speech)

    answer = token_client(user).post(
        f"/api/v1/experiments/{experiment.pk}/runs/",
        {"dataset_version": foreign.pk, "model_name": "m"},
        format="json",
    )

    assert answer.status_code == 400 and "belongs to team 'speech'" in answer.json()["detail"]
    assert not TrainingRun.objects.exists()


def test_a_dataset_version_of_a_team_the_caller_is_not_in_reads_as_missing(teams):
    vision, speech = teams
    experiment = ExperimentFactory(team=vision)
    hidden = DatasetVersionFactory(dataset__team=speech)

    answer = token_client(member(vision, "scientist")).post(
        f"/api/v1/experiments/{experiment.pk}/runs/",
        {"dataset_version": hidden.pk, "model_name": "m"},
        format="json",
    )

    assert answer.status_code == 400
    assert answer.json()["dataset_version"] == [f"dataset version {hidden.pk} does not exist"]


def test_a_new_models_mlflow_name_carries_its_team(teams):
    vision, _ = teams
    version = model_version_register(
        model_name="digits",
        team=vision,
        artifact=Artifact("models/x.keras", "a" * 64, 1),
        signature={},
        metrics={},
    )

    assert version.model.mlflow_name == "vision.digits"


# --- the commands ------------------------------------------------------------------------------


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def test_commands_without_a_user_act_as_the_operator_in_the_default_team(small_npz, tmp_path):
    data = tmp_path / "blobs.npz"
    data.write_bytes(small_npz)

    run("ingest_dataset", "blobs", "--file", str(data))

    assert Dataset.objects.get(name="blobs").team.slug == "default"


def test_ingest_as_a_user_goes_to_their_team_and_a_viewer_is_refused(teams, small_npz, tmp_path):
    vision, speech = teams
    member(vision, "scientist", username="sci")
    member(speech, "viewer", username="look")
    data = tmp_path / "blobs.npz"
    data.write_bytes(small_npz)

    run("ingest_dataset", "blobs", "--file", str(data), "--user", "sci")
    with pytest.raises(CommandError, match="you need the scientist role in a team"):
        run("ingest_dataset", "blobs", "--file", str(data), "--user", "look")
    with pytest.raises(CommandError, match="there is no user 'nobody'"):
        run("ingest_dataset", "blobs", "--file", str(data), "--user", "nobody")

    assert list(Dataset.objects.values_list("team__slug", "name")) == [("vision", "blobs")]


def test_a_dataset_name_in_two_teams_needs_team_for_training(teams, small_npz):
    for team in teams:
        version, _ = dataset_services.dataset_version_ingest(
            dataset_name="blobs",
            team=team,
            source=dataset_services.IngestSource.upload(io.BytesIO(small_npz), "b.npz"),
        )
        dataset_version_execute(version_id=version.pk)
    base = ["train", "--dataset", "blobs", "--experiment", "e", "--model-name", "m"]

    with pytest.raises(CommandError, match=r"several of your teams \(speech, vision\)"):
        run(*base)
    run(*base, "--team", "speech")

    assert TrainingRun.objects.get().experiment.team.slug == "speech"


def test_promote_as_a_scientist_is_refused_and_as_an_approver_moves_production(teams):
    vision, _ = teams
    member(vision, "scientist", username="sci")
    member(vision, "approver", username="boss")
    ModelVersionFactory(model__team=vision, model__name="digits", version=1)

    with pytest.raises(CommandError, match="you need the approver role in team 'vision'"):
        run("promote", "digits", "1", "--user", "sci")
    lines = run("promote", "digits", "1", "--user", "boss", "--comment", "ok")

    assert lines == ["digits@production: nothing -> version 1"]
    assert AliasEvent.objects.get().user.username == "boss"


def test_cancel_run_as_a_member_of_another_team_finds_no_run(teams):
    vision, speech = teams
    from tests.factories import TrainingRunFactory

    run_row = TrainingRunFactory(experiment__team=vision)
    member(speech, "scientist", username="outsider")

    with pytest.raises(CommandError, match=f"there is no run {run_row.pk}"):
        run("cancel_run", str(run_row.pk), "--user", "outsider")

    run_row.refresh_from_db()
    assert run_row.status == "QUEUED"


def test_a_predict_only_token_finds_no_other_model_of_its_user(teams, both_have_digits):
    vision, speech = teams
    user = member(vision, "predictor")
    Membership.objects.create(team=speech, user=user, role="predictor")
    ModelVersionFactory(model__team=vision, model__name="hidden")
    token = token_client(user, predict_models=["vision/digits"])
    row = {"instances": [[0.0] * 4]}

    answers = {
        url: token.post(url, row, format="json")
        for url in (
            "/api/v1/models/hidden/predict/",
            "/api/v1/models/nothing/predict/",
            "/api/v1/models/digits/predict/?team=speech",
            "/api/v1/models/digits/predict/?team=nowhere",
        )
    }
    mine = token.post("/api/v1/models/digits/predict/", row, format="json")

    assert {url: a.status_code for url, a in answers.items()} == dict.fromkeys(answers, 404)
    assert len({a.json()["detail"].split("'")[1] for a in answers.values()}) == 3  # the name asked
    # Its own model, found without ?team= although the user sees two 'digits': no alias yet.
    assert mine.status_code == 409
