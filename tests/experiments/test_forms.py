"""The admin's train and sweep forms: one input per hyperparameter, errors on the input."""

import html
import re

import pytest

from experiments.models import Sweep, TrainingRun
from tests.factories import member

CHANGELIST = "/admin/datasets/datasetversion/"
RUN = {"experiment": "exp", "model_name": "blobs", "architecture": "mlp"}


@pytest.fixture
def scientist_client(client, team):
    client.force_login(member(team, "scientist"))
    return client


def show(client, action, version):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [version.pk]})


def submit(client, action, version, **fields):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [version.pk], "apply": "1", **RUN, **fields},
    )


def row_of(page: str, name: str) -> str:
    """The form row of input ``name``: its errors, label, input and help."""
    start = page.index(f'<label for="id_{name}"')
    start = page.rindex('<div class="form-row', 0, start)
    end = page.index('<div class="form-row', start + 1)
    return html.unescape(page[start:end])


@pytest.mark.django_db
def test_the_train_form_lists_each_mlp_hyperparameter_with_its_default_and_range(
    scientist_client, ready_version
):
    page = show(scientist_client, "train_model", ready_version).content.decode()

    epochs = row_of(page, "hp_epochs")
    rate = row_of(page, "hp_learning_rate")
    optimizer = row_of(page, "hp_optimizer")
    units = row_of(page, "hp_hidden_units")
    assert 'type="number"' in epochs and 'min="1"' in epochs and 'max="1000"' in epochs
    assert 'step="1"' in epochs and 'placeholder="20"' in epochs
    assert "passes over the training split (default 20, from 1 to 1000)" in epochs
    assert 'step="any"' in rate and "(default 0.001, from 1e-06 to 1)" in rate
    assert "<select" in optimizer and '<option value="" selected>default (adam)</option>' in (
        optimizer
    )
    assert 'data-architectures="mlp"' in units and "hp_filters" in page
    assert 'data-architectures="linear mlp cnn"' in epochs
    assert "hpml/hyperparameters.js" in page and "hpml/forms.css" in page


@pytest.mark.django_db
def test_a_run_is_queued_with_the_values_of_the_inputs(scientist_client, ready_version):
    answer = submit(
        scientist_client,
        "train_model",
        ready_version,
        hp_epochs="3",
        hp_learning_rate="0.01",
        hp_optimizer="sgd",
        hp_hidden_units="",
        hp_filters="",  # an empty cnn input is ignored for mlp
    )

    assert answer.status_code == 302
    run = TrainingRun.objects.get()
    assert run.architecture == "mlp"
    assert run.hyperparameters["epochs"] == 3 and run.hyperparameters["learning_rate"] == 0.01
    assert run.hyperparameters["optimizer"] == "sgd"
    assert run.hyperparameters["hidden_units"] == 128  # the default


@pytest.mark.django_db
def test_an_input_wins_over_the_same_hyperparameter_in_the_json(scientist_client, ready_version):
    submit(
        scientist_client,
        "train_model",
        ready_version,
        hp_epochs="4",
        hyperparameters='{"epochs": 9, "batch_size": 8}',
    )

    hyperparameters = TrainingRun.objects.get().hyperparameters
    assert hyperparameters["epochs"] == 4 and hyperparameters["batch_size"] == 8


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hp_epochs", "0", "epochs must be between 1 and 1000, got '0'"),
        ("hp_learning_rate", "abc", "learning_rate must be a number, got 'abc'"),
        ("hp_optimizer", "nope", "optimizer must be one of adam, sgd, adamw, got 'nope'"),
        ("hp_batch_size", "2.5", "batch_size must be a whole number"),
    ],
)
def test_a_wrong_value_is_shown_on_its_input_and_queues_nothing(
    scientist_client, ready_version, field, value, message
):
    typed = {"hp_epochs": "5", "hp_dropout": "0.2", field: value}

    answer = submit(scientist_client, "train_model", ready_version, **typed)

    page = answer.content.decode()
    assert answer.status_code == 200 and not TrainingRun.objects.exists()
    assert message in row_of(page, field)
    assert 'value="0.2"' in row_of(page, "hp_dropout")
    assert 'value="exp"' in row_of(page, "experiment")


@pytest.mark.django_db
def test_a_combination_a_run_refuses_is_shown_on_an_input_that_gave_it(
    scientist_client, ready_version
):
    answer = submit(
        scientist_client,
        "train_model",
        ready_version,
        hp_validation_fraction="0.45",
        hp_test_fraction="0.45",
    )

    assert "must stay below 0.9" in row_of(answer.content.decode(), "hp_validation_fraction")
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_a_cnn_hyperparameter_given_with_mlp_is_refused(scientist_client, ready_version):
    answer = submit(scientist_client, "train_model", ready_version, hp_filters="16")

    assert "mlp has no filters" in row_of(answer.content.decode(), "hp_filters")
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_the_sweep_form_lists_values_to_try_with_the_range(scientist_client, ready_version):
    page = show(scientist_client, "run_sweep", ready_version).content.decode()

    rate = row_of(page, "sweep_learning_rate")
    optimizer = row_of(page, "sweep_optimizer")
    assert 'type="text"' in rate and 'placeholder="0.001"' in rate
    assert "(from 1e-06 to 1; default 0.001)" in rate
    assert "one of adam, sgd, adamw; default adam" in optimizer
    assert "Values to try" in page


@pytest.mark.django_db
def test_the_sweep_form_builds_the_grid_from_comma_separated_values(
    scientist_client, ready_version
):
    answer = submit(
        scientist_client,
        "run_sweep",
        ready_version,
        sweep_learning_rate="0.001, 0.01",
        sweep_optimizer="adam,sgd",
        sweep_epochs="2",
        metric="val_accuracy",
    )

    assert answer.status_code == 302
    sweep = Sweep.objects.get()
    assert sweep.space == {
        "learning_rate": [0.001, 0.01],
        "optimizer": ["adam", "sgd"],
        "epochs": 2,
    }
    points = {
        (run.hyperparameters["learning_rate"], run.hyperparameters["optimizer"])
        for run in sweep.runs.all()
    }
    assert points == {(0.001, "adam"), (0.001, "sgd"), (0.01, "adam"), (0.01, "sgd")}
    assert {run.hyperparameters["epochs"] for run in sweep.runs.all()} == {2}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sweep_learning_rate", "0.001, abc", "learning_rate must be a number, got 'abc'"),
        ("sweep_epochs", "5, 0", "epochs must be between 1 and 1000, got '0'"),
        ("sweep_optimizer", "adam, adam", "optimizer lists adam twice"),
        ("sweep_kernel_size", "3, 5", "mlp has no kernel_size"),
    ],
)
def test_the_sweep_form_refuses_a_bad_value_on_its_input_and_creates_nothing(
    scientist_client, ready_version, field, value, message
):
    typed = {"sweep_hidden_units": "64, 128", field: value}

    answer = submit(scientist_client, "run_sweep", ready_version, metric="val_loss", **typed)

    page = answer.content.decode()
    assert answer.status_code == 200 and message in row_of(page, field)
    assert 'value="64, 128"' in row_of(page, "sweep_hidden_units")
    assert not Sweep.objects.exists() and not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_an_empty_sweep_is_refused(scientist_client, ready_version):
    answer = submit(
        scientist_client, "run_sweep", ready_version, sweep_epochs=" ", metric="val_loss"
    )

    errors = re.search(r'<p class="errornote">(.*?)</p>', answer.content.decode(), re.S)
    assert errors and "at least one hyperparameter" in errors.group(1)
    assert not Sweep.objects.exists()
