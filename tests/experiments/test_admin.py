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


@pytest.mark.django_db
def test_the_run_page_links_to_the_run_in_the_mlflow_ui(client, admin_user, settings):
    from tests.factories import TrainingRunFactory

    run = TrainingRunFactory(status="SUCCEEDED", mlflow_run_id="abc123")
    run.experiment.mlflow_experiment_id = "7"
    run.experiment.save()
    client.force_login(admin_user)

    settings.MLFLOW_UI_URL = "http://mlflow.example:5001/"
    linked = client.get(f"/admin/experiments/trainingrun/{run.pk}/change/").content.decode()
    settings.MLFLOW_UI_URL = ""
    plain = client.get(f"/admin/experiments/trainingrun/{run.pk}/change/").content.decode()

    assert 'href="http://mlflow.example:5001/#/experiments/7/runs/abc123"' in linked
    assert "abc123" in plain and "mlflow.example" not in plain


@pytest.mark.django_db
def test_a_failed_run_is_retried_from_the_run_list(client, admin_user):
    from tests.factories import TrainingRunFactory

    failed = TrainingRunFactory(status="FAILED", hyperparameters={"epochs": 2})
    succeeded = TrainingRunFactory(status="SUCCEEDED", dataset_version=failed.dataset_version)
    client.force_login(admin_user)

    page = client.post(
        "/admin/experiments/trainingrun/",
        {"action": "retry_runs", "_selected_action": [failed.pk, succeeded.pk]},
        follow=True,
    ).content.decode()

    retried = TrainingRun.objects.get(retry_of=failed)
    assert retried.status == "QUEUED" and retried.hyperparameters["epochs"] == 2
    assert f"Queued run(s) {retried.pk} (retrying {failed.pk})" in page
    assert f"Run {succeeded.pk}: run {succeeded.pk} is SUCCEEDED" in page
    assert TrainingRun.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_retry_the_broker_refuses_is_reported_as_not_queued(client, admin_user):
    from tests.factories import TrainingRunFactory
    from tests.helpers import broker_unreachable

    failed = TrainingRunFactory(status="FAILED", hyperparameters={"epochs": 2})
    client.force_login(admin_user)

    with broker_unreachable():
        page = client.post(
            "/admin/experiments/trainingrun/",
            {"action": "retry_runs", "_selected_action": [failed.pk]},
            follow=True,
        ).content.decode()

    retried = TrainingRun.objects.get(retry_of=failed)
    assert retried.status == "FAILED" and f"Run {retried.pk}: could not queue" in page
    assert "Queued run(s)" not in page


@pytest.mark.django_db
def test_the_run_page_draws_curves_and_tables_with_escaped_labels(admin_client, run):
    hostile = "<script>alert(1)</script>"
    run.history = [
        {"epoch": 1, "loss": 1.2, "accuracy": 0.5, "val_loss": 1.3, "val_accuracy": 0.45},
        {"epoch": 2, "loss": 0.8, "accuracy": 0.7, "val_loss": None, "val_accuracy": 0.6},
        {"epoch": 3, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.7},
    ]
    scores = {"precision": 0.75, "recall": 0.5, "f1": 0.6, "support": 4}
    run.metrics = {
        "test_accuracy": 0.8125,
        "per_class": {"cat": scores, hostile: scores},
        "confusion_matrix": [[3, 1], [2, 2]],
    }
    run.hyperparameters = {"epochs": 3, "learning_rate": 0.001}
    run.save()

    page = admin_client.get(f"/admin/experiments/trainingrun/{run.pk}/change/").content.decode()

    assert page.count('class="hpml-chart"') == 2  # loss, accuracy
    lines = page.split("<polyline")[1:]
    # loss: 3 points; val_loss broken by the missing epoch 2 into two lines of 1; accuracies: 3.
    assert [line.split('points="')[1].split('"')[0].count(",") for line in lines] == [3, 1, 1, 3, 3]
    assert "learning_rate" in page and "0.001" in page and "0.8125" in page
    assert '<td style="background:rgba(47,109,181,0.64)">3</td>' in page  # 3 of 4 in its row
    assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.django_db
def test_a_run_with_no_history_says_so(admin_client, run):
    page = admin_client.get(f"/admin/experiments/trainingrun/{run.pk}/change/").content.decode()

    assert "loss by epoch: nothing recorded yet" in page and "hpml-chart" not in page
