"""The portal for team members: sign-in, choices limited to their teams, tokens shown once."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import ApiToken
from accounts.services import api_token_authenticate, api_token_create
from datasets.models import Dataset, DatasetVersion
from experiments.models import TrainingRun
from tests.factories import (
    DatasetFactory,
    DatasetVersionFactory,
    TeamFactory,
    UserFactory,
    member,
)

pytestmark = pytest.mark.django_db


def test_a_team_member_who_is_not_staff_signs_in_to_the_portal(client, team):
    member(team, "viewer", username="vic")

    answer = client.post(
        "/admin/login/?next=/admin/", {"username": "vic", "password": "pw-test-123"}
    )

    assert answer.status_code == 302 and answer.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_someone_in_no_team_cannot_sign_in_to_the_portal(client):
    UserFactory(username="loner")

    answer = client.post("/admin/login/", {"username": "loner", "password": "pw-test-123"})

    assert answer.status_code == 200 and b"belongs to a team" in answer.content
    assert client.get("/admin/").status_code == 302


def test_new_datasets_can_go_only_to_teams_where_the_person_may_write(client):
    mine, read_only, foreign = TeamFactory(slug="mine"), TeamFactory(slug="ro"), TeamFactory()
    user = member(mine, "scientist")
    from accounts.models import Membership

    Membership.objects.create(team=read_only, user=user, role="viewer")
    client.force_login(user)

    page = client.get("/admin/datasets/dataset/add/").content.decode()
    refused = client.post(
        "/admin/datasets/dataset/add/", {"team": read_only.pk, "name": "x", "description": ""}
    )
    smuggled = client.post(
        "/admin/datasets/dataset/add/", {"team": foreign.pk, "name": "y", "description": ""}
    )
    created = client.post(
        "/admin/datasets/dataset/add/", {"team": mine.pk, "name": "z", "description": ""}
    )

    options = re.findall(r'<option value="(\d+)"', page)
    assert options == [str(mine.pk)]
    assert refused.status_code == 200 and smuggled.status_code == 200
    assert created.status_code == 302
    assert list(Dataset.objects.values_list("team__slug", "name")) == [("mine", "z")]


def test_an_upload_goes_to_the_chosen_team_and_never_to_another(client, small_npz):
    mine, foreign = TeamFactory(slug="mine"), TeamFactory(slug="foreign")
    client.force_login(member(mine, "scientist"))

    smuggled = client.post(
        "/admin/datasets/datasetversion/upload/",
        {"team": foreign.pk, "dataset": "x", "file": SimpleUploadedFile("u.npz", small_npz)},
    )
    uploaded = client.post(
        "/admin/datasets/datasetversion/upload/",
        {"dataset": "x", "file": SimpleUploadedFile("u.npz", small_npz)},
    )

    assert smuggled.status_code == 200 and b"Select a valid choice" in smuggled.content
    assert uploaded.status_code == 302
    assert list(DatasetVersion.objects.values_list("dataset__team__slug", flat=True)) == ["mine"]


def test_list_filters_offer_only_the_persons_teams_objects(client):
    mine, foreign = TeamFactory(slug="mine"), TeamFactory(slug="foreign")
    DatasetVersionFactory(dataset__team=mine, dataset__name="alpha-only")
    DatasetVersionFactory(dataset__team=foreign, dataset__name="bravo-only")
    client.force_login(member(mine, "viewer"))

    page = client.get("/admin/datasets/datasetversion/").content.decode()

    assert "alpha-only" in page
    assert "bravo-only" not in page and "foreign" not in page


def test_a_viewer_is_offered_no_training_and_cannot_start_one(client, team):
    version = DatasetVersionFactory(dataset__team=team)
    client.force_login(member(team, "viewer"))

    page = client.get("/admin/datasets/datasetversion/").content.decode()
    client.post(
        "/admin/datasets/datasetversion/",
        {
            "action": "train_model",
            "_selected_action": [version.pk],
            "apply": "1",
            "experiment": "e",
            "model_name": "m",
            "architecture": "mlp",
        },
    )

    assert "train_model" not in page and "Add a dataset version" not in page
    assert "retry_versions" not in page and "delete_versions" not in page
    assert not TrainingRun.objects.exists()


def test_a_token_made_in_the_portal_is_shown_once_and_works(client, team):
    user = member(team, "scientist")
    client.force_login(user)

    made = client.post(
        "/admin/accounts/apitoken/add/",
        {"user": user.pk, "name": "laptop", "predict_models": "", "expires_at": ""},
    )

    key = re.search(r'value="(hpml_[^"]+)"', made.content.decode()).group(1)
    assert "no-store" in made.headers["Cache-Control"]
    assert api_token_authenticate(key).user == user
    listing = client.get("/admin/accounts/apitoken/").content.decode()
    assert key not in listing and key[:11] in listing


def test_people_make_tokens_for_themselves_only(client, team):
    user, other = member(team, "scientist"), member(team, "scientist")
    client.force_login(user)

    answer = client.post(
        "/admin/accounts/apitoken/add/",
        {"user": other.pk, "name": "", "predict_models": "", "expires_at": ""},
    )

    assert answer.status_code == 200 and b"Select a valid choice" in answer.content
    assert not ApiToken.objects.exists()


def test_a_bad_predict_only_list_is_refused_on_the_form(client, team):
    user = member(team, "scientist")
    client.force_login(user)

    answer = client.post(
        "/admin/accounts/apitoken/add/",
        {"user": user.pk, "name": "", "predict_models": "nowhere/x", "expires_at": ""},
    )

    assert answer.status_code == 200 and b"may not predict in a team" in answer.content
    assert not ApiToken.objects.exists()


def test_people_revoke_their_own_tokens_and_see_no_one_elses(client, team):
    user, other = member(team, "scientist"), member(team, "scientist")
    mine, key = api_token_create(user=user)
    theirs, _ = api_token_create(user=other)
    client.force_login(user)

    listing = client.get("/admin/accounts/apitoken/").content.decode()
    client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [mine.pk, theirs.pk]},
    )

    assert mine.prefix in listing and theirs.prefix not in listing
    assert ApiToken.objects.get(pk=mine.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    assert api_token_authenticate(key) is None


def test_the_dataset_admin_of_another_team_answers_404(client):
    foreign = DatasetFactory(team=TeamFactory())
    client.force_login(member(TeamFactory(), "approver"))

    assert client.get(f"/admin/datasets/dataset/{foreign.pk}/change/").status_code == 404
    assert client.get("/admin/datasets/dataset/not-a-number/change/").status_code == 404
