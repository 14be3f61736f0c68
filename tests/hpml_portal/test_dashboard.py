"""The portal's front page: each person's teams' runs, failures, models, data and workers."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from experiments.models import TrainingRun
from tests.factories import (
    ExperimentFactory,
    MembershipFactory,
    TeamFactory,
    TrainingRunFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(client, team):
    user = UserFactory()
    MembershipFactory(team=team, user=user, role="viewer")
    client.force_login(user)
    return user


def run_in(team, **fields):
    experiment = ExperimentFactory(team=team)
    return TrainingRunFactory(experiment=experiment, dataset_version__dataset__team=team, **fields)


def test_the_front_page_shows_runs_failures_and_models_of_the_persons_teams(
    client, person, team, production
):
    running = run_in(team, status=TrainingRun.Status.RUNNING, current_epoch=1, progress=0.5)
    failed = run_in(
        team,
        status=TrainingRun.Status.FAILED,
        error="the data has NaN <b>values</b>\nTraceback ...",
        finished_at=timezone.now(),
    )
    elsewhere = run_in(TeamFactory(slug="other"), status=TrainingRun.Status.RUNNING)

    page = client.get("/admin/").content.decode()
    data = client.get("/admin/dashboard.json").json()

    assert [r["id"] for r in data["runs"]] == [running.pk] and str(running) in page
    assert str(elsewhere) not in page
    assert data["failures"][0]["error"] == "the data has NaN <b>values</b>"  # the first line
    assert "the data has NaN &lt;b&gt;values&lt;/b&gt;" in page and failed.pk
    digits = next(m for m in data["models"] if m["name"] == "digits")
    assert (digits["production"], digits["staging"], digits["requests_last_hour"]) == (1, None, 0)
    assert data["health"]["broker"] == "ok" and set(data["health"]["queues"]) == {
        "default",
        "training",
    }
    assert 'src="/static/hpml/dashboard.js"' in page


def test_the_front_page_reads_the_same_queries_for_one_row_or_fifty(client, person, team):
    run_in(team, status=TrainingRun.Status.RUNNING)
    client.get("/admin/dashboard.json")  # the health check is kept after the first
    with CaptureQueriesContext(connection) as one:
        client.get("/admin/dashboard.json")
    for n in range(50):
        run_in(team, status=TrainingRun.Status.RUNNING)
        error = "  \n " if n == 49 else "x"  # a blank error too, among those shown
        run_in(team, status=TrainingRun.Status.FAILED, finished_at=timezone.now(), error=error)

    with CaptureQueriesContext(connection) as many:
        data = client.get("/admin/dashboard.json").json()

    assert len(data["runs"]) == 20 and len(data["failures"]) == 20
    assert len(many) == len(one) < 20
