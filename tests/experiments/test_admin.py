import pytest

from experiments import services
from experiments.models import TrainingRun


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def run(ready_version):
    return services.training_run_create(
        experiment_name="exp", dataset_version=ready_version, model_name="m"
    )


@pytest.mark.django_db
def test_the_run_pages_show_status_and_progress(admin_client, run):
    listing = admin_client.get("/admin/experiments/trainingrun/")
    detail = admin_client.get(f"/admin/experiments/trainingrun/{run.pk}/change/")
    experiments = admin_client.get("/admin/experiments/experiment/")

    assert listing.status_code == 200 and b"QUEUED" in listing.content
    assert b"<progress" in listing.content
    assert detail.status_code == 200 and experiments.status_code == 200


@pytest.mark.django_db
def test_the_cancel_action_cancels_runs(admin_client, run):
    answer = admin_client.post(
        "/admin/experiments/trainingrun/",
        {"action": "cancel_runs", "_selected_action": [run.pk]},
    )

    assert answer.status_code == 302
    run.refresh_from_db()
    assert run.status == "CANCELLED"


@pytest.mark.django_db
def test_an_experiment_is_created_and_described_in_the_admin(admin_client, team):
    admin_client.post(
        "/admin/experiments/experiment/add/",
        {"team": team.pk, "name": "new", "description": "d1"},
    )

    assert TrainingRun.objects.count() == 0
    assert services.experiment_get_or_create(name="new").description == "d1"
