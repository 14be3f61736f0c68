"""The portal in a real browser: the dashboard refreshing itself, a run's charts, trying a
prediction from a model's page, and another team's person seeing none of it."""

import pytest
from django.utils import timezone

from experiments.models import TrainingRun
from tests.browser.conftest import PASSWORD, log_in, person
from tests.factories import ExperimentFactory, TeamFactory, TrainingRunFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def running_run(team):
    return TrainingRunFactory(
        experiment=ExperimentFactory(team=team, name="digits"),
        dataset_version__dataset__team=team,
        status=TrainingRun.Status.RUNNING,
        started_at=timezone.now(),
        hyperparameters={"epochs": 4},
        current_epoch=1,
        progress=0.25,
        history=[{"epoch": 1, "loss": 1.1, "accuracy": 0.6, "val_loss": 1.2, "val_accuracy": 0.55}],
    )


def test_the_dashboard_shows_a_run_moving_without_a_reload(page, live_server, team, production):
    viewer = person(team)
    run = running_run(team)
    log_in(page, live_server, viewer.username, PASSWORD)
    progress = page.locator("#hpml-runs progress")
    assert progress.get_attribute("value") == "0.25"
    page.shot("dashboard")

    TrainingRun.objects.filter(pk=run.pk).update(progress=1.0, current_epoch=4)

    page.wait_for_function(
        "document.querySelector('#hpml-runs progress').getAttribute('value') === '1'"
    )
    assert "epoch 4/4" in page.inner_text("#hpml-runs")
    assert "digits" in page.inner_text("#hpml-models") and "v1" in page.inner_text("#hpml-models")
    page.shot("dashboard-refreshed")


def test_a_run_page_draws_its_curves(page, live_server, team):
    viewer = person(team)
    run = running_run(team)
    log_in(page, live_server, viewer.username, PASSWORD)

    page.goto(f"{live_server.url}/admin/experiments/trainingrun/{run.pk}/change/")

    assert page.locator("figure.hpml-chart svg polyline").count() == 4
    page.shot("run")


def test_a_prediction_is_tried_from_the_model_page(page, live_server, team, production):
    viewer = person(team)
    log_in(page, live_server, viewer.username, PASSWORD)

    page.goto(
        f"{live_server.url}/admin/models_registry/registeredmodel/{production.model_id}/change/"
    )
    page.wait_for_function("document.getElementById('hpml-tryit-body').value.length > 10")
    page.click("#hpml-tryit-send")
    page.wait_for_function(
        "document.getElementById('hpml-tryit-answer').textContent.includes('predictions')"
    )

    answer = page.inner_text("#hpml-tryit-answer")
    assert '"version": 1' in answer and page.inner_text("#hpml-tryit-status") == "answered"
    page.shot("model-try-it")


def test_a_person_of_another_team_sees_none_of_it(page, live_server, team, production):
    running_run(team)
    outsider = person(TeamFactory(slug="elsewhere"))
    log_in(page, live_server, outsider.username, PASSWORD)

    dashboard = page.inner_text("#hpml-dashboard")
    model = page.goto(
        f"{live_server.url}/admin/models_registry/registeredmodel/{production.model_id}/change/"
    )

    assert "digits" not in dashboard and "Nothing is training." in dashboard
    assert model.status == 404
    page.shot("outsider")
