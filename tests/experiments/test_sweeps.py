"""Sweeps: a hyperparameter search expanded into runs, followed, cancelled, ranked and its
best run registered; through the services, the API, the admin and the commands."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.access import AccessDenied
from experiments import services, sweeps
from experiments.models import Experiment, Sweep, TrainingRun
from experiments.selectors import sweep_best_run, sweep_list, sweep_ranked_runs
from hpml_portal.jobs import job_claim
from models_registry.models import ModelVersion
from tests.helpers import queued_tasks

SPACE = {"learning_rate": [0.001, 0.01], "hidden_units": [16, 32], "epochs": 2}


def create(version, **kwargs):
    return sweeps.sweep_create(
        experiment_name=kwargs.pop("experiment_name", "search"),
        dataset_version=version,
        model_name=kwargs.pop("model_name", "blobs"),
        space=kwargs.pop("space", SPACE),
        **kwargs,
    )


def state(sweep) -> Sweep:
    return sweep_list(user=None).get(pk=sweep.pk)


def succeed(run, **metrics):
    """End a run SUCCEEDED with ``metrics``, as its worker would, holding a stored model."""
    job_claim(TrainingRun, run.pk)
    TrainingRun.objects.filter(pk=run.pk).update(artifact=_artifact(run))
    services.training_run_finish(run_id=run.pk, status="SUCCEEDED", metrics=metrics)


def _artifact(run) -> dict:
    return {
        "name": f"models/default/blobs/{run.pk:064d}.keras",
        "sha256": f"{run.pk:064d}",
        "size_bytes": 10,
        "signature": {"input_shape": [8], "input_dtype": "float32", "classes": [0, 1, 2]},
        "mlflow_model_uri": "",
    }


@pytest.mark.django_db(transaction=True)
def test_a_sweep_queues_one_run_per_point_of_the_grid_after_commit(ready_version, user):
    sweep = create(ready_version, user=user)

    runs = list(sweep.runs.order_by("pk"))
    assert len(runs) == 4 and all(run.status == "QUEUED" and not run.register for run in runs)
    points = {(r.hyperparameters["learning_rate"], r.hyperparameters["hidden_units"]) for r in runs}
    assert points == {(0.001, 16), (0.001, 32), (0.01, 16), (0.01, 32)}
    assert all(run.hyperparameters["epochs"] == 2 for run in runs)
    assert queued_tasks("training") == [("experiments.tasks.train_run", [r.pk]) for r in runs]
    sweep = state(sweep)
    assert (sweep.status, sweep.runs_total, sweep.runs_done) == ("QUEUED", 4, 0)
    assert sweep.created_by == user and sweep.experiment.name == "search"


@pytest.mark.django_db
def test_a_random_sweep_records_the_seed_it_drew_with_and_a_grid_has_none(ready_version):
    space = {"learning_rate": [0.001, 0.002, 0.003, 0.004], "hidden_units": [8, 16, 32, 64]}
    drawn = [create(ready_version, space=space, random=3) for _ in range(3)]
    again = create(ready_version, space=space, random=3, seed=drawn[0].seed)
    grid = create(ready_version)

    def points(sweep):
        return sorted(tuple(sorted(r.hyperparameters.items())) for r in sweep.runs.all())

    assert all(sweep.runs.count() == 3 for sweep in drawn)
    assert points(drawn[0]) == points(again)
    assert len({sweep.seed for sweep in drawn}) == 3  # drawn afresh for each sweep
    assert grid.seed is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"space": {"nesterov": [True]}}, "unknown hyperparameter 'nesterov'"),
        ({"space": {"learning_rate": []}}, "empty list"),
        ({"space": {"learning_rate": ["fast"]}}, "must be a number"),
        ({"space": {"epochs": list(range(1, 30))}}, "more than a sweep may hold"),
        ({"space": {"epochs": [1, 2]}, "random": 5}, "the grid holds only 2"),
        ({"space": {"early_stopping_patience": [101]}}, "early_stopping_patience must be"),
        ({"space": "lr=0.1"}, "the space must be an object"),
        ({"seed": -1, "random": 2}, "seed must be a whole number"),
        ({"seed": "1", "random": 2}, "seed must be a whole number"),
        ({"seed": 2**31, "random": 2}, "seed must be a whole number"),
        ({"seed": 3}, "give it with random, not alone"),
        ({"metric": "f1"}, "unknown sweep metric"),
        ({"architecture": "cnn"}, "cnn needs image-shaped features"),
        ({"model_name": "bad name!"}, "invalid model name"),
    ],
)
def test_a_bad_sweep_is_refused_and_creates_nothing(ready_version, kwargs, message):
    with pytest.raises(services.TrainingError, match=message):
        create(ready_version, experiment_name="brand-new", **kwargs)

    assert not Sweep.objects.exists() and not TrainingRun.objects.exists()
    assert not Experiment.objects.filter(name="brand-new").exists()


@pytest.mark.django_db
def test_a_sweep_past_the_teams_run_limit_is_refused_whole(ready_version, settings):
    settings.TEAM_MAX_ACTIVE_RUNS = 5
    services.training_run_create(
        experiment_name="search", dataset_version=ready_version, model_name="blobs"
    )
    services.training_run_create(
        experiment_name="search", dataset_version=ready_version, model_name="blobs"
    )

    with pytest.raises(services.RunLimitReached, match="4 runs more would pass it"):
        create(ready_version)

    assert not Sweep.objects.exists() and TrainingRun.objects.count() == 2


@pytest.mark.django_db
def test_a_sweep_runs_through_its_statuses_with_its_runs(ready_version):
    sweep = create(ready_version, space={"learning_rate": [0.001, 0.01]})
    first, second = sweep.runs.order_by("pk")

    job_claim(TrainingRun, first.pk)
    assert state(sweep).status == "RUNNING"
    services.training_run_fail(run_id=first.pk, error="boom")
    assert (state(sweep).status, state(sweep).runs_done) == ("RUNNING", 1)
    succeed(second, val_accuracy=0.9)
    sweep = state(sweep)
    assert (sweep.status, sweep.runs_done) == ("SUCCEEDED", 2)
    assert sweep_best_run(sweep=sweep).pk == second.pk


@pytest.mark.django_db
def test_a_sweep_whose_runs_all_failed_failed(ready_version):
    sweep = create(ready_version, space={"learning_rate": [0.001, 0.01]})
    for run in sweep.runs.all():
        services.training_run_fail(run_id=run.pk, error="boom")

    assert state(sweep).status == "FAILED" and sweep_best_run(sweep=state(sweep)) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("metric", "values", "best"),
    [
        ("val_accuracy", [0.8, 0.95, 0.95, None], 1),  # a tie goes to the earlier run
        ("val_loss", [0.5, 0.2, 0.9, None], 1),
        ("test_accuracy", [0.7, 0.6, 0.9, 0.99], 3),
    ],
)
def test_the_best_run_is_ranked_by_the_sweeps_metric(ready_version, metric, values, best):
    sweep = create(ready_version, metric=metric)
    runs = list(sweep.runs.order_by("pk"))
    for run, value in zip(runs, values, strict=True):
        succeed(run, **({} if value is None else {metric: value}))

    sweep = state(sweep)
    assert sweep_best_run(sweep=sweep).pk == runs[best].pk
    ranked = [run.pk for run in sweep_ranked_runs(sweep=sweep)]
    assert ranked[0] == runs[best].pk
    if values[3] is None:  # a run without the metric comes last
        assert ranked[-1] == runs[3].pk


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_sweep_ends_its_queued_runs_and_flags_its_running_ones(ready_version):
    sweep = create(ready_version)
    runs = list(sweep.runs.order_by("pk"))
    succeed(runs[0], val_accuracy=0.9)
    job_claim(TrainingRun, runs[1].pk)

    stopping = sweeps.sweep_cancel(sweep=sweep)

    assert stopping == 3
    statuses = [TrainingRun.objects.get(pk=r.pk) for r in runs]
    assert [r.status for r in statuses] == ["SUCCEEDED", "RUNNING", "CANCELLED", "CANCELLED"]
    assert statuses[1].cancel_requested
    assert state(sweep).status == "RUNNING"  # until the running one stops
    services.training_run_finish(run_id=runs[1].pk, status="CANCELLED")
    assert state(sweep).status == "CANCELLED"
    assert ("experiments.tasks.settle_sweep", [sweep.pk]) in queued_tasks("default")


@pytest.mark.django_db
def test_cancelling_a_finished_sweep_is_refused_and_changes_nothing(ready_version):
    sweep = create(ready_version, space={"learning_rate": [0.001, 0.01]})
    for run in sweep.runs.all():
        succeed(run, val_accuracy=0.5)

    with pytest.raises(sweeps.SweepEnded, match="already ended"):
        sweeps.sweep_cancel(sweep=sweep)

    sweep = state(sweep)
    assert sweep.status == "SUCCEEDED" and not sweep.cancel_requested


@pytest.mark.django_db
def test_a_run_that_ended_after_the_callers_read_is_not_cancelled(ready_version):
    run = services.training_run_create(
        experiment_name="e", dataset_version=ready_version, model_name="m"
    )
    job_claim(TrainingRun, run.pk)
    seen = TrainingRun.objects.get(pk=run.pk)  # what a page read: RUNNING
    services.training_run_finish(run_id=run.pk, status="SUCCEEDED")

    with pytest.raises(services.RunEnded, match="already ended"):
        services.training_run_cancel(run=seen)

    run.refresh_from_db()
    assert run.status == "SUCCEEDED" and not run.cancel_requested


@pytest.mark.django_db
def test_the_best_run_is_registered_once(ready_version):
    sweep = create(ready_version)
    runs = list(sweep.runs.order_by("pk"))
    for run, value in zip(runs, [0.5, 0.9, 0.7, 0.6], strict=True):
        succeed(run, val_accuracy=value)
    assert not ModelVersion.objects.exists()  # a sweep's runs register nothing by themselves

    version, created = sweeps.sweep_register_best(sweep=state(sweep))
    again, created_again = sweeps.sweep_register_best(sweep=state(sweep))

    assert created and not created_again and again.pk == version.pk
    assert (version.model.name, version.version, version.run_id) == ("blobs", 1, runs[1].pk)
    assert version.sha256 == f"{runs[1].pk:064d}"
    assert version.metrics["val_accuracy"] == 0.9
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_registering_without_a_succeeded_run_is_refused(ready_version):
    sweep = create(ready_version, space={"learning_rate": [0.001, 0.01]})
    run = sweep.runs.first()

    with pytest.raises(sweeps.NoBestRun, match="no run of sweep"):
        sweeps.sweep_register_best(sweep=state(sweep))
    with pytest.raises(services.RunNotRegistrable, match="is QUEUED"):
        services.training_run_register(run=run)

    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_a_sweeps_run_retried_stays_in_the_sweep_and_registers_by_choice(ready_version):
    sweep = create(ready_version, space={"learning_rate": [0.001, 0.01]})
    run = sweep.runs.first()
    services.training_run_fail(run_id=run.pk, error="boom")
    run.refresh_from_db()

    retry = services.training_run_retry(run=run)

    assert retry.sweep_id == sweep.pk and not retry.register and retry.retry_of_id == run.pk
    assert state(sweep).runs_total == 3


@pytest.mark.django_db
def test_a_viewer_may_not_sweep_cancel_or_register(ready_version, django_user_model):
    from accounts.models import Membership

    viewer = django_user_model.objects.create_user("sweep-viewer")
    Membership.objects.create(team=ready_version.dataset.team, user=viewer, role="viewer")
    sweep = create(ready_version)

    for call in (
        lambda: create(ready_version, user=viewer),
        lambda: sweeps.sweep_cancel(sweep=sweep, user=viewer),
        lambda: sweeps.sweep_register_best(sweep=state(sweep), user=viewer),
    ):
        with pytest.raises(AccessDenied):
            call()
    assert Sweep.objects.count() == 1 and state(sweep).status == "QUEUED"


# --- the API -----------------------------------------------------------------------------------


@pytest.fixture
def experiment(api_client):
    return api_client.post("/api/v1/experiments/", {"name": "search"}, format="json").json()


def submit(api_client, experiment, **payload):
    return api_client.post(
        f"/api/v1/experiments/{experiment['id']}/sweeps/", payload, format="json"
    )


@pytest.mark.django_db(transaction=True)
def test_a_sweep_request_answers_202_with_the_sweep_and_its_runs(
    api_client, experiment, ready_version
):
    answer = submit(
        api_client, experiment, dataset_version=ready_version.pk, model_name="m", space=SPACE
    )

    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["status"] == "QUEUED" and body["runs_total"] == 4 and body["runs_done"] == 0
    assert body["metric"] == "val_accuracy" and body["goal"] == "max"
    assert body["best_run"] is None and len(body["runs"]) == 4
    queued = [args for _, args in queued_tasks("training")]
    assert sorted(queued) == sorted([run["id"]] for run in body["runs"])
    detail = api_client.get(f"/api/v1/sweeps/{body['id']}/").json()
    assert detail["id"] == body["id"] and detail["dataset"] == "blobs:1"
    listing = api_client.get(f"/api/v1/experiments/{experiment['id']}/sweeps/").json()
    assert [s["id"] for s in listing["results"]] == [body["id"]]
    runs = api_client.get("/api/v1/runs/?status=QUEUED").json()
    assert all(run["sweep"] == body["id"] and not run["register"] for run in runs["results"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"space": {"momentum": []}}, "space.momentum is an empty list"),
        ({"space": {"dropout": ["high"]}}, "must be a number, got 'high'"),
        ({"space": {"depth": [2]}}, "unknown hyperparameter 'depth'"),
        ({"space": {"epochs": list(range(1, 30))}}, "more than a sweep may hold"),
        ({"space": {"epochs": [1, 2]}, "random": 3}, "the grid holds only 2"),
        ({"space": {"epochs": [1, 2]}, "random": "two"}, "random must be a whole number"),
        ({"space": None}, "space"),
        ({"dataset_version": 999999}, "dataset version 999999 does not exist"),
        ({"metric": "speed"}, "unknown sweep metric"),
    ],
)
def test_a_bad_sweep_request_is_400_and_creates_nothing(
    api_client, experiment, ready_version, payload, message
):
    body = {"dataset_version": ready_version.pk, "model_name": "m", "space": SPACE, **payload}

    answer = submit(api_client, experiment, **body)

    assert answer.status_code == 400 and message in str(answer.json())
    assert not Sweep.objects.exists() and not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_a_sweep_is_cancelled_once_and_its_best_run_registered_through_the_api(
    api_client, experiment, ready_version
):
    body = submit(
        api_client, experiment, dataset_version=ready_version.pk, model_name="m", space=SPACE
    ).json()
    early = api_client.post(f"/api/v1/sweeps/{body['id']}/register-best/")
    runs = TrainingRun.objects.filter(sweep_id=body["id"]).order_by("pk")
    succeed(runs[0], val_accuracy=0.8)
    succeed(runs[1], val_accuracy=0.85)

    cancelled = api_client.post(f"/api/v1/sweeps/{body['id']}/cancel/")
    again = api_client.post(f"/api/v1/sweeps/{body['id']}/cancel/")
    registered = api_client.post(f"/api/v1/sweeps/{body['id']}/register-best/")
    twice = api_client.post(f"/api/v1/sweeps/{body['id']}/register-best/")
    by_run = api_client.post(f"/api/v1/runs/{runs[1].pk}/register/")
    unfinished = api_client.post(f"/api/v1/runs/{runs[2].pk}/register/")

    assert early.status_code == 409 and "no run of sweep" in early.json()["detail"]
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert again.status_code == 409 and "already ended" in again.json()["detail"]
    assert registered.status_code == 201, registered.content
    assert registered.json()["run"] == runs[1].pk and registered.json()["version"] == 1
    assert twice.status_code == 200 and twice.json()["version"] == 1
    assert by_run.status_code == 200 and by_run.json()["version"] == 1
    assert unfinished.status_code == 409 and "CANCELLED" in unfinished.json()["detail"]
    detail = api_client.get(f"/api/v1/sweeps/{body['id']}/").json()
    assert detail["best_run"]["id"] == runs[1].pk and detail["best_run"]["model_version"] == 1
    assert [run["id"] for run in detail["runs"]][:2] == [runs[1].pk, runs[0].pk]
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_another_teams_sweep_reads_as_missing(ready_version):
    from tests.conftest import token_client
    from tests.factories import MembershipFactory, TeamFactory, UserFactory

    sweep = create(ready_version)
    outsider = UserFactory()
    MembershipFactory(team=TeamFactory(), user=outsider, role="scientist")
    client = token_client(outsider)

    assert client.get(f"/api/v1/sweeps/{sweep.pk}/").status_code == 404
    assert client.post(f"/api/v1/sweeps/{sweep.pk}/cancel/").status_code == 404
    assert client.get("/api/v1/sweeps/").json()["results"] == []
    assert state(sweep).status == "QUEUED"


# --- the commands ------------------------------------------------------------------------------


def command(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_the_sweep_command_queues_a_sweep_and_prints_its_id_last(ready_version):
    lines = command(
        "sweep",
        "--dataset",
        "blobs",
        "--experiment",
        "search",
        "--model-name",
        "m",
        "--space",
        '{"learning_rate": [0.001, 0.01, 0.1], "epochs": 2}',
        "--random",
        "2",
        "--seed",
        "3",
    )

    sweep = Sweep.objects.get()
    assert lines[-1] == str(sweep.pk) and "2 mlp runs (2 random points, seed 3)" in lines[0]
    assert sweep.runs.count() == 2 and sweep.seed == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--space", "{learning_rate: [1]}"], "--space is not valid JSON"),
        (["--space", '{"learning_rate": []}'], "empty list"),
        (["--space", '{"epochs": [1]}', "--random", "4"], "the grid holds only 1"),
        (["--space", '{"epochs": [1]}', "--register-best"], "--register-best needs --wait"),
    ],
)
def test_the_sweep_command_refuses_bad_input_in_one_line(ready_version, args, message):
    base = ["--dataset", "blobs", "--experiment", "s", "--model-name", "m"]

    with pytest.raises(CommandError, match=message) as refused:
        command("sweep", *base, *args)

    assert "\n" not in str(refused.value) and not Sweep.objects.exists()


@pytest.mark.django_db
def test_cancel_sweep_cancels_once_then_says_it_has_ended(ready_version):
    sweep = create(ready_version)

    lines = command("cancel_sweep", str(sweep.pk))

    assert lines == [f"sweep {sweep.pk}: asked 4 run(s) to stop; it is CANCELLED"]
    with pytest.raises(CommandError, match="already ended"):
        command("cancel_sweep", str(sweep.pk))
    with pytest.raises(CommandError, match="there is no sweep 999999"):
        command("cancel_sweep", "999999")


# --- the admin ---------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
def test_the_admin_sweep_action_keeps_the_input_and_shows_the_error(admin_client, ready_version):
    page = admin_client.post(
        "/admin/datasets/datasetversion/",
        {"action": "run_sweep", "_selected_action": [ready_version.pk]},
    )
    refused = admin_client.post(
        "/admin/datasets/datasetversion/",
        {
            "action": "run_sweep",
            "_selected_action": [ready_version.pk],
            "apply": "1",
            "experiment": "search",
            "model_name": "m",
            "architecture": "mlp",
            "space": '{"learning_rate": [0.001, "quick"]}',
            "metric": "val_accuracy",
        },
    )

    assert page.status_code == 200 and b"Run a hyperparameter sweep" in page.content
    assert refused.status_code == 200
    assert b"must be a number, got &#x27;quick&#x27;" in refused.content
    assert b"quick" in refused.content and not Sweep.objects.exists()


@pytest.mark.django_db
def test_the_admin_queues_a_sweep_and_its_page_compares_the_runs(admin_client, ready_version):
    answer = admin_client.post(
        "/admin/datasets/datasetversion/",
        {
            "action": "run_sweep",
            "_selected_action": [ready_version.pk],
            "apply": "1",
            "experiment": "search",
            "model_name": "m",
            "architecture": "mlp",
            "space": '{"learning_rate": [0.001, 0.01]}',
            "metric": "val_loss",
        },
    )
    sweep = Sweep.objects.get()
    low, high = sweep.runs.order_by("pk")
    succeed(low, val_loss=0.7, val_accuracy=0.6)
    succeed(high, val_loss=0.3, val_accuracy=0.9)
    for run, losses in ((low, [0.9, 0.7]), (high, [0.8, 0.5, 0.3])):
        history = [{"epoch": n + 1, "val_loss": value} for n, value in enumerate(losses)]
        TrainingRun.objects.filter(pk=run.pk).update(history=history)

    page = admin_client.get(f"/admin/experiments/sweep/{sweep.pk}/change/")
    listing = admin_client.get("/admin/experiments/sweep/")
    registered = admin_client.post(
        "/admin/experiments/sweep/",
        {"action": "register_best", "_selected_action": [sweep.pk]},
        follow=True,
    )
    cancelled = admin_client.post(
        "/admin/experiments/sweep/",
        {"action": "cancel_sweeps", "_selected_action": [sweep.pk]},
        follow=True,
    )

    assert answer.status_code == 302 and sweep.metric == "val_loss"
    html = page.content.decode()
    assert page.status_code == 200 and "Runs, best first" in html
    assert html.index(f">{high.pk}</a>") < html.index(f">{low.pk}</a>")  # lower loss first
    # The curves overlaid, best run first: 3 epochs of the best run, 2 of the other.
    curves = html.split('class="hpml-chart"')[1].split("</figure>")[0]
    points = [
        line.split('points="')[1].split('"')[0].count(",") for line in curves.split("<polyline")[1:]
    ]
    assert points == [3, 2] and f"run {high.pk}" in curves.split("figcaption")[1]
    assert listing.status_code == 200 and "SUCCEEDED" in listing.content.decode()
    assert f"Run {high.pk} registered as" in registered.content.decode()
    assert ModelVersion.objects.get().run_id == high.pk
    assert "already ended" in cancelled.content.decode()


@pytest.fixture
def ends_before_the_cancel():
    """Ends the run whose id the test puts in ``race["run"]`` SUCCEEDED, from a connection of
    its own as its worker would, just before the first cancel UPDATE reaches the database:
    the run ends between the page's read and the update (every statement runs for real)."""
    from django.db import connection

    worker = connection.Database.connect(**connection.get_connection_params())
    worker.autocommit = True
    race = {"run": None, "staged": False}

    def wrapper(execute, sql, params, many, context):
        cancelling = sql.startswith('UPDATE "experiments_trainingrun"') and (
            "cancel_requested" in sql
        )
        if cancelling and race["run"] and not race["staged"]:
            race["staged"] = True
            with worker.cursor() as cursor:
                cursor.execute(
                    "UPDATE experiments_trainingrun SET status = 'SUCCEEDED', "
                    "finished_at = now() WHERE id = %s",
                    [race["run"]],
                )
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield race
    worker.close()


@pytest.mark.django_db(transaction=True)
def test_a_run_ending_during_the_admins_cancel_gets_a_message_not_an_error_page(
    admin_client, ready_version, ends_before_the_cancel
):
    run = services.training_run_create(
        experiment_name="e", dataset_version=ready_version, model_name="m"
    )
    job_claim(TrainingRun, run.pk)
    ends_before_the_cancel["run"] = run.pk

    answer = admin_client.post(
        "/admin/experiments/trainingrun/",
        {"action": "cancel_runs", "_selected_action": [run.pk]},
        follow=True,
    )

    assert ends_before_the_cancel["staged"], "the race was not staged"
    assert answer.status_code == 200
    assert f"Run {run.pk}: run {run.pk} has already ended (SUCCEEDED)" in answer.content.decode()
    run.refresh_from_db()
    assert run.status == "SUCCEEDED" and not run.cancel_requested


@pytest.mark.django_db(transaction=True)
def test_a_sweep_ending_during_its_cancel_is_reported_and_left_as_it_ended(
    admin_client, ready_version, ends_before_the_cancel
):
    sweep = create(ready_version, space={"learning_rate": [0.001]})
    (run,) = sweep.runs.all()
    job_claim(TrainingRun, run.pk)
    ends_before_the_cancel["run"] = run.pk

    answer = admin_client.post(
        "/admin/experiments/sweep/",
        {"action": "cancel_sweeps", "_selected_action": [sweep.pk]},
        follow=True,
    )

    assert ends_before_the_cancel["staged"] and answer.status_code == 200
    assert f"Sweep {sweep.pk}: sweep {sweep.pk} has already ended" in answer.content.decode()
    sweep = state(sweep)
    assert sweep.status == "SUCCEEDED" and not sweep.cancel_requested


@pytest.mark.django_db
def test_the_sweeps_live_line_says_runs_done_where_training_is_and_the_best_so_far(
    ready_version,
):
    from experiments.management.commands.sweep import _progress_line

    sweep = create(ready_version, space={"learning_rate": [0.001, 0.01, 0.1], "epochs": 20})
    done, running, _ = sweep.runs.order_by("pk")
    succeed(done, val_accuracy=0.875)
    job_claim(TrainingRun, running.pk)
    TrainingRun.objects.filter(pk=running.pk).update(
        current_epoch=2,
        batches_done=17,
        batches_per_epoch=45,
        samples_per_second=5321.0,
        eta_seconds=125.0,
    )
    sweep = state(sweep)

    line = _progress_line(sweep, list(sweep.runs.all()))

    assert line == (
        f"sweep {sweep.pk}: 1/3 runs done, 1 running (run {running.pk}: epoch 3/20  batch 17/45"
        f"  5,321 samples/s  ETA 2:05), best val_accuracy 0.8750 (run {done.pk})"
    )


@pytest.mark.django_db
def test_a_versions_recorded_split_decides_whether_runs_have_a_validation_split(ready_version):
    schema = dict(ready_version.schema)
    schema["split_sizes"] = {"train": 70, "validation": 0, "test": 20}
    ready_version.schema = schema
    ready_version.save(update_fields=["schema"])

    with pytest.raises(services.TrainingError, match="recorded split has no validation rows"):
        create(ready_version)
    by_test = create(ready_version, metric="test_accuracy")

    schema["split_sizes"] = {"train": 60, "validation": 10, "test": 20}
    ready_version.schema = schema
    ready_version.save(update_fields=["schema"])
    # The recorded split is used whatever validation_fraction says.
    by_validation = create(ready_version, space={"validation_fraction": [0, 0.2]})

    assert by_test.runs.count() == 4 and by_validation.runs.count() == 2
    assert Sweep.objects.count() == 2


@pytest.mark.django_db
def test_a_run_of_an_ended_sweep_is_not_retried_into_it(ready_version):
    sweep = create(ready_version, space={"learning_rate": [0.001, 0.01]})
    failed, done = sweep.runs.order_by("pk")
    services.training_run_fail(run_id=failed.pk, error="boom")
    succeed(done, val_accuracy=0.9)
    failed.refresh_from_db()

    with pytest.raises(services.RunNotRetryable, match="which has ended"):
        services.training_run_retry(run=failed)

    assert state(sweep).runs_total == 2 and state(sweep).status == "SUCCEEDED"


@pytest.mark.django_db
def test_a_diverging_runs_nan_numbers_are_kept_as_null(ready_version):
    run = services.training_run_create(
        experiment_name="e", dataset_version=ready_version, model_name="m"
    )
    job_claim(TrainingRun, run.pk)
    nan, inf = float("nan"), float("inf")

    services.training_run_report(
        run_id=run.pk, epoch=1, total_epochs=2, history=[{"epoch": 1, "loss": nan}]
    )
    services.training_run_finish(
        run_id=run.pk, status="SUCCEEDED", metrics={"val_loss": inf, "per_class": {"0": [nan]}}
    )

    run.refresh_from_db()
    assert run.status == "SUCCEEDED" and run.history == [{"epoch": 1, "loss": None}]
    assert run.metrics == {"val_loss": None, "per_class": {"0": [None]}}


@pytest.mark.django_db
def test_a_random_draw_from_a_grid_beyond_any_integer_is_a_sweep_not_an_error(
    api_client, experiment, ready_version
):
    space = {name: list(range(1, 1001)) for name in ("epochs", "batch_size", "hidden_units")}
    space["seed"] = list(range(1000))
    space.update(dropout=[i / 2000 for i in range(1000)], momentum=[i / 2000 for i in range(1000)])
    space["learning_rate"] = [(i + 1) / 2000 for i in range(1000)]

    answer = submit(
        api_client,
        experiment,
        dataset_version=ready_version.pk,
        model_name="m",
        space=space,
        random=3,
    )

    assert answer.status_code == 202, answer.content
    assert answer.json()["runs_total"] == 3


@pytest.mark.django_db
def test_names_longer_than_the_database_holds_are_refused(api_client, experiment, ready_version):
    long_name = "m" * 101

    sweep = submit(
        api_client,
        experiment,
        dataset_version=ready_version.pk,
        model_name=long_name,
        space=SPACE,
    )
    run = api_client.post(
        f"/api/v1/experiments/{experiment['id']}/runs/",
        {"dataset_version": ready_version.pk, "model_name": long_name},
        format="json",
    )

    assert sweep.status_code == run.status_code == 400
    assert "model_name" in sweep.json() and "model_name" in run.json()
    with pytest.raises(services.TrainingError, match="at most 100 characters"):
        services.training_run_create(
            experiment_name="e", dataset_version=ready_version, model_name=long_name
        )
    assert not TrainingRun.objects.exists() and not Sweep.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_last_run_of_a_sweep_cancelled_or_reaped_queues_its_settling(ready_version):
    from datetime import timedelta

    from django.utils import timezone

    from hpml_portal.jobs import job_reap

    cancelled = create(ready_version, space={"learning_rate": [0.001]})
    reaped = create(ready_version, space={"learning_rate": [0.001]})
    (run,) = cancelled.runs.all()
    (stale,) = reaped.runs.all()
    job_claim(TrainingRun, stale.pk)
    TrainingRun.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    services.training_run_cancel(run=run)
    job_reap(stale_after=60, requeue_after=3600)

    settling = [args for name, args in queued_tasks("default") if name.endswith("settle_sweep")]
    assert [cancelled.pk] in settling and [reaped.pk] in settling
    assert state(cancelled).status == "CANCELLED" and state(reaped).status == "FAILED"


@pytest.mark.django_db
def test_a_sweep_is_settled_once_and_not_while_runs_remain(ready_version):
    sweep = create(ready_version, space={"learning_rate": [0.001, 0.01]})
    first, second = sweep.runs.order_by("pk")
    services.training_run_fail(run_id=first.pk, error="boom")

    assert sweeps.sweep_settle(sweep_id=sweep.pk) is False  # a run remains
    services.training_run_fail(run_id=second.pk, error="boom")
    assert sweeps.sweep_settle(sweep_id=sweep.pk) is True  # no MLflow run was ever made
    assert sweeps.sweep_settle(sweep_id=sweep.pk) is False
    assert state(sweep).mlflow_closed


@pytest.mark.django_db
def test_a_sweep_whose_mlflow_run_cannot_be_ended_stays_unsettled_for_the_next_try(
    ready_version,
):
    from mlflow.exceptions import MlflowException

    sweep = create(ready_version, space={"learning_rate": [0.001]})
    Sweep.objects.filter(pk=sweep.pk).update(mlflow_run_id="no-such-run")
    services.training_run_fail(run_id=sweep.runs.get().pk, error="boom")

    with pytest.raises(MlflowException):
        sweeps.sweep_settle(sweep_id=sweep.pk)

    assert not state(sweep).mlflow_closed


@pytest.mark.django_db
def test_listing_sweeps_takes_the_same_queries_however_many_there_are(
    api_client, admin_client, ready_version
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(url, client):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    urls = [
        ("/api/v1/sweeps/", api_client),
        ("/admin/experiments/sweep/", admin_client),
    ]
    for _ in range(2):
        create(ready_version, space={"learning_rate": [0.001, 0.01]})
    for url, client in urls:  # the token's first use of the day is recorded once
        queries(url, client)
    few = [queries(url, client) for url, client in urls]
    for _ in range(4):
        create(ready_version, space={"learning_rate": [0.001, 0.01, 0.1]})
    many = [queries(url, client) for url, client in urls]

    assert many == few
