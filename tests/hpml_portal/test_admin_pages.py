"""An object's page: its buttons run one of the admin's actions on that object alone, its
links lead to the forms that start from it, and its live parts are served again while its job
runs, to the same people who may read the page."""

import pytest

from experiments.models import TrainingRun
from tests.factories import (
    DatasetVersionFactory,
    MembershipFactory,
    SweepFactory,
    TeamFactory,
    TrainingRunFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def signed_in(client, team, role):
    person = UserFactory()
    MembershipFactory(team=team, user=person, role=role)
    client.force_login(person)
    return person


def run_page(run) -> str:
    return f"/admin/experiments/trainingrun/{run.pk}/change/"


def test_a_running_run_offers_cancel_and_refreshes_its_parts(client, team):
    signed_in(client, team, "scientist")
    run = TrainingRunFactory(experiment__team=team, status=TrainingRun.Status.RUNNING)

    page = client.get(run_page(run)).content.decode()
    live = client.get(f"/admin/experiments/trainingrun/{run.pk}/live.json").json()

    assert f"/admin/experiments/trainingrun/{run.pk}/do/cancel_runs/" in page
    assert "do/retry_runs/" not in page and "do/register_runs/" not in page
    assert f'data-url="/admin/experiments/trainingrun/{run.pk}/live.json"' in page
    assert live["done"] is False
    assert set(live["parts"]) >= {"live_progress", "training_curves", "confusion"}
    assert live["parts"]["live_progress"].startswith('<div id="hpml-live-live_progress"')


def test_the_cancel_button_cancels_this_run_alone_and_comes_back(client, team):
    signed_in(client, team, "scientist")
    run, other = TrainingRunFactory.create_batch(
        2, experiment__team=team, status=TrainingRun.Status.RUNNING
    )

    answer = client.post(f"/admin/experiments/trainingrun/{run.pk}/do/cancel_runs/")

    assert answer.status_code == 302 and answer.url == run_page(run)
    run.refresh_from_db(), other.refresh_from_db()
    assert run.cancel_requested and not other.cancel_requested


def test_a_finished_run_page_does_not_poll(client, team):
    signed_in(client, team, "viewer")
    run = TrainingRunFactory(experiment__team=team, status=TrainingRun.Status.SUCCEEDED)

    page = client.get(run_page(run)).content.decode()

    assert 'id="hpml-live"' not in page


def test_a_viewer_sees_no_buttons_and_cannot_press_them(client, team):
    signed_in(client, team, "viewer")
    run = TrainingRunFactory(experiment__team=team, status=TrainingRun.Status.RUNNING)

    page = client.get(run_page(run)).content.decode()
    pressed = client.post(f"/admin/experiments/trainingrun/{run.pk}/do/cancel_runs/")

    assert "do/cancel_runs/" not in page
    assert pressed.status_code == 404
    run.refresh_from_db()
    assert not run.cancel_requested


def test_another_team_can_neither_press_nor_poll(client, team):
    signed_in(client, TeamFactory(slug="elsewhere"), "scientist")
    run = TrainingRunFactory(experiment__team=team, status=TrainingRun.Status.RUNNING)

    pressed = client.post(f"/admin/experiments/trainingrun/{run.pk}/do/cancel_runs/")
    polled = client.get(f"/admin/experiments/trainingrun/{run.pk}/live.json")

    assert pressed.status_code == 404 and polled.status_code == 404
    run.refresh_from_db()
    assert not run.cancel_requested


def test_an_unknown_button_is_not_found(client, team):
    signed_in(client, team, "scientist")
    run = TrainingRunFactory(experiment__team=team, status=TrainingRun.Status.RUNNING)

    answer = client.post(f"/admin/experiments/trainingrun/{run.pk}/do/delete_selected/")

    assert answer.status_code == 404


def test_a_ready_version_links_to_its_forms_for_a_scientist_only(client, team):
    version = DatasetVersionFactory(dataset__team=team)
    url = f"/admin/datasets/datasetversion/{version.pk}/"
    signed_in(client, team, "scientist")
    page = client.get(f"{url}change/").content.decode()
    client.logout()
    signed_in(client, team, "viewer")
    seen_by_viewer = client.get(f"{url}change/").content.decode()

    for form in ("process", "train", "sweep"):
        assert f'href="{url}{form}/"' in page
        assert f'href="{url}{form}/"' not in seen_by_viewer


def test_a_version_being_ingested_shows_its_progress_until_done(client, team):
    signed_in(client, team, "viewer")
    version = DatasetVersionFactory(dataset__team=team, status="INGESTING", bytes_total=100)

    page = client.get(f"/admin/datasets/datasetversion/{version.pk}/change/").content.decode()
    live = client.get(f"/admin/datasets/datasetversion/{version.pk}/live.json").json()

    assert 'id="hpml-live"' in page and "Train a model" not in page
    assert live["done"] is False and "INGESTING" in live["parts"]["live_status"]


def test_a_sweep_page_offers_to_register_its_best_run(client, team):
    signed_in(client, team, "scientist")
    sweep = SweepFactory(experiment__team=team)

    page = client.get(f"/admin/experiments/sweep/{sweep.pk}/change/").content.decode()

    assert f"/admin/experiments/sweep/{sweep.pk}/do/register_best/" in page


@pytest.mark.parametrize(
    "value, shown",
    [(None, "-"), (0.4213, "0.42 ms"), (12.345, "12.3 ms"), (1234.5, "1,234 ms")],
)
def test_durations_read_in_milliseconds_rounded_to_their_size(value, shown):
    from hpml_portal.admin_utils import milliseconds

    assert milliseconds(value) == shown


def test_a_version_page_archives_and_restores_with_its_buttons(client, team, model_version):
    signed_in(client, team, "scientist")
    page = f"/admin/models_registry/modelversion/{model_version.pk}/"

    offered = client.get(f"{page}change/").content.decode()
    client.post(f"{page}do/archive_versions/")
    model_version.refresh_from_db()
    archived_page = client.get(f"{page}change/").content.decode()

    assert "do/archive_versions/" in offered and "do/restore_versions/" not in offered
    assert model_version.archived_at is not None
    assert "do/restore_versions/" in archived_page and "do/archive_versions/" not in archived_page
