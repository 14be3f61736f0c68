"""The train and sweep forms of one dataset version's own page (``<id>/train/``,
``<id>/sweep/``): a queued run or sweep opens its page; a refusal stays on the form."""

import pytest

from experiments.models import Sweep, TrainingRun
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db

RUN = {"experiment": "exp", "model_name": "blobs", "architecture": "mlp", "apply": "1"}


def form_url(version, form: str) -> str:
    return f"/admin/datasets/datasetversion/{version.pk}/{form}/"


@pytest.fixture
def scientist(client, team):
    client.force_login(member(team, "scientist"))
    return client


def test_the_train_form_is_named_after_the_version_and_prefilled(scientist, ready_version):
    page = scientist.get(form_url(ready_version, "train")).content.decode()

    assert f"Train a model on {ready_version.ref}" in page
    assert 'value="blobs"' in page  # experiment and model named after the dataset


def test_a_queued_run_opens_its_page(scientist, ready_version):
    answer = scientist.post(form_url(ready_version, "train"), {**RUN, "hp_epochs": "2"})

    run = TrainingRun.objects.get()
    assert answer.status_code == 302
    assert answer.url == f"/admin/experiments/trainingrun/{run.pk}/change/"
    assert run.dataset_version == ready_version and run.hyperparameters["epochs"] == 2


def test_a_refused_run_stays_on_the_form_and_nothing_is_queued(scientist, ready_version):
    answer = scientist.post(form_url(ready_version, "train"), {**RUN, "hp_epochs": "0"})

    assert answer.status_code == 200 and "errorlist" in answer.content.decode()
    assert not TrainingRun.objects.exists()


def test_a_queued_sweep_opens_its_page(scientist, ready_version):
    answer = scientist.post(
        form_url(ready_version, "sweep"),
        {**RUN, "sweep_epochs": "1, 2", "metric": "val_accuracy"},
    )

    sweep = Sweep.objects.get()
    assert (
        answer.status_code == 302 and answer.url == f"/admin/experiments/sweep/{sweep.pk}/change/"
    )
    assert sweep.space == {"epochs": [1, 2]} and sweep.runs.count() == 2


def test_a_refused_sweep_stays_on_the_form_and_nothing_is_queued(scientist, ready_version):
    answer = scientist.post(form_url(ready_version, "sweep"), {**RUN, "sweep_epochs": "one"})

    assert answer.status_code == 200 and "errorlist" in answer.content.decode()
    assert not Sweep.objects.exists() and not TrainingRun.objects.exists()


@pytest.mark.parametrize("form", ["train", "sweep"])
def test_a_viewer_is_refused_and_another_team_finds_nothing(client, team, ready_version, form):
    client.force_login(member(team, "viewer"))
    viewer = client.post(form_url(ready_version, form), {**RUN, "hp_epochs": "2"})
    client.force_login(member(TeamFactory(slug="far"), "scientist"))
    outsider = client.post(form_url(ready_version, form), {**RUN, "hp_epochs": "2"})

    assert (viewer.status_code, outsider.status_code) == (403, 404)
    assert not TrainingRun.objects.exists() and not Sweep.objects.exists()
