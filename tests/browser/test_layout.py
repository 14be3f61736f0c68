"""The portal's pages on a 390 px phone and in the dark theme, and every form's inputs named
by a label that a screen reader and the keyboard reach."""

import pytest
from django.utils import timezone

from experiments.models import TrainingRun
from tests.browser.conftest import PASSWORD, log_in, person
from tests.factories import ExperimentFactory, TrainingRunFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The inputs a person fills in (not hidden ones, not buttons) that no label names.
UNLABELLED = """() => [...document.querySelectorAll('#content :is(input, select, textarea)')]
  .filter((el) => !['hidden', 'submit', 'button', 'reset'].includes(el.type))
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map((el) => el.name || el.id)"""


@pytest.fixture
def pages(team, production, ready_version):
    run = TrainingRunFactory(
        experiment=ExperimentFactory(team=team, name="digits"),
        dataset_version=ready_version,
        status=TrainingRun.Status.RUNNING,
        started_at=timezone.now(),
        hyperparameters={"epochs": 4},
        current_epoch=2,
        progress=0.5,
        history=[
            {"epoch": 1, "loss": 1.1, "accuracy": 0.6, "val_loss": 1.2, "val_accuracy": 0.55},
            {"epoch": 2, "loss": 0.7, "accuracy": 0.8, "val_loss": 0.8, "val_accuracy": 0.75},
        ],
    )
    version = f"/admin/datasets/datasetversion/{ready_version.pk}"
    return {
        "dashboard": "/admin/",
        "dataset-versions": "/admin/datasets/datasetversion/",
        "dataset-version": f"{version}/change/",
        "upload": "/admin/datasets/datasetversion/upload/",
        "train": f"{version}/train/",
        "sweep": f"{version}/sweep/",
        "process": f"{version}/process/",
        "runs": "/admin/experiments/trainingrun/",
        "run": f"/admin/experiments/trainingrun/{run.pk}/change/",
        "model": f"/admin/models_registry/registeredmodel/{production.model_id}/change/",
        "model-version": f"/admin/models_registry/modelversion/{production.pk}/change/",
        "promote": f"/admin/models_registry/modelversion/{production.pk}/promote/",
    }


def visit(page, live_server, pages, check) -> None:
    for name, path in pages.items():
        answer = page.goto(f"{live_server.url}{path}")
        assert answer.status == 200, (name, answer.status)
        page.wait_for_load_state("networkidle")
        check(name)
        page.shot(name)


def test_each_page_fits_a_phone_screen(page, live_server, team, pages):
    approver = person(team, "approver")
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, approver.username, PASSWORD)

    def fits(name):
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width} px wide on a 390 px screen"

    visit(page, live_server, pages, fits)


def test_each_page_follows_the_dark_theme(chromium, live_server, team, pages, tmp_path, request):
    from tests.browser.conftest import screenshots

    approver = person(team, "approver")
    context = chromium.new_context(color_scheme="dark", viewport={"width": 1280, "height": 900})
    page = screenshots(context.new_page(), tmp_path, request)
    log_in(page, live_server, approver.username, PASSWORD)

    def dark(name):
        red, green, blue = page.evaluate(
            "getComputedStyle(document.body).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number)"
        )
        assert red + green + blue < 150, f"{name} has a light background in the dark theme"
        tables = page.evaluate(
            "[...document.querySelectorAll('#content table')].map((t) => getComputedStyle(t).color)"
        )
        assert all(color != "rgb(0, 0, 0)" for color in tables), f"{name}: black text on dark"

    try:
        visit(page, live_server, pages, dark)
    finally:
        context.close()


def test_every_input_of_every_form_has_a_label(page, live_server, team, pages):
    approver = person(team, "approver")
    log_in(page, live_server, approver.username, PASSWORD)

    def labelled(name):
        assert page.evaluate(UNLABELLED) == [], f"{name} has inputs without a label"

    visit(page, live_server, pages, labelled)


def test_the_train_form_works_from_the_keyboard(page, live_server, team, pages):
    approver = person(team, "approver")
    log_in(page, live_server, approver.username, PASSWORD)
    page.goto(f"{live_server.url}{pages['train']}")

    page.focus("#id_hp_epochs")
    page.keyboard.type("3")
    page.keyboard.press("Enter")  # submits the form, as a click on its button would
    page.wait_for_url("**/trainingrun/*/change/")

    run = TrainingRun.objects.order_by("-pk").first()
    assert run.hyperparameters["epochs"] == 3 and run.status == TrainingRun.Status.QUEUED
