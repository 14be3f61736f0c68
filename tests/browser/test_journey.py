"""One person's whole job in a real browser, on real processes: upload a dataset, start a
training from the dataset's page, watch it train on a Celery worker without reloading, read
its curves and confusion matrix, promote the model version, try a prediction; then a person
of another team signs in and sees none of it. A screenshot of each page is saved."""

import time

import numpy as np
import pytest

from models_registry.models import RegisteredModel
from tests.browser.conftest import PASSWORD, log_in, person
from tests.factories import TeamFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PROGRESS = "#hpml-live-live_progress progress"
STATUS = "#hpml-live-live_status"


@pytest.fixture
def digits_file(tmp_path, digits):
    """The digits as 8x8 images: the portal draws their thumbnails."""
    x, y = digits
    path = tmp_path / "digits.npz"
    np.savez(path, x=x.reshape(-1, 8, 8).astype("float32"), y=y)
    return path


def upload(page, url: str, digits_file) -> None:
    page.goto(f"{url}/admin/datasets/datasetversion/upload/")
    page.fill("#id_dataset", "digits")
    page.set_input_files("#id_file", str(digits_file))
    page.shot("upload")
    page.click("#hpml-upload-submit")
    page.wait_for_url("**/datasetversion/*/change/")
    # The page shows the worker's progress, then the schema and statistics it found.
    page.wait_for_function(
        f"document.querySelector('{STATUS}').textContent.includes('READY')", timeout=120_000
    )
    page.wait_for_selector("#hpml-live", state="detached")


def watch_training(page) -> list[str]:
    """The progress bar's values until the run ends, read every 0.2 s from the page."""
    seen = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        value = page.get_attribute(PROGRESS, "value")
        if not seen or seen[-1] != value:
            seen.append(value)
        status = page.inner_text(STATUS)
        if status in ("SUCCEEDED", "FAILED", "CANCELLED") and value == "1.000":
            return seen
        if status in ("FAILED", "CANCELLED"):
            pytest.fail(f"the run ended {status}: {page.inner_text('#hpml-live-live_error')}")
        time.sleep(0.2)
    pytest.fail(f"the run did not end; progress seen: {seen}")


def test_a_person_does_the_whole_job_in_the_portal(
    page, live_server, alive, team, digits, digits_file
):
    url = live_server.url
    approver = person(team, "approver")
    log_in(page, live_server, approver.username, PASSWORD)

    upload(page, url, digits_file)
    assert "1797" in page.inner_text("#content")
    assert page.locator("img[alt^='the first samples']").count() == 1
    page.shot("dataset-version")

    page.click("text=Train a model…")
    page.fill("#id_hp_epochs", "12")
    page.shot("train-form")
    page.click("input[name=apply]")
    page.wait_for_url("**/trainingrun/*/change/")
    page.evaluate("window.hpmlSamePage = true")  # gone if the page were loaded again
    seen = watch_training(page)

    assert page.inner_text(STATUS) == "SUCCEEDED", page.inner_text("#hpml-live-live_error")
    assert len(seen) >= 2 and seen[-1] == "1.000", seen
    assert page.evaluate("window.hpmlSamePage") is True
    page.wait_for_selector("#hpml-live", state="detached")  # the finished run's page, in place
    assert page.locator("#hpml-live-training_curves svg polyline").count() == 4
    assert page.locator("#hpml-live-confusion table td").count() == 100
    page.shot("run")

    page.click("#hpml-live-live_model_version a")
    page.wait_for_url("**/modelversion/*/change/")
    page.shot("model-version")
    page.click("text=Promote…")
    page.fill("#id_alias", "production")
    page.fill("#id_comment", "first digits model")
    page.shot("promote")
    page.click("input[type=submit][value=Promote]")
    page.wait_for_url("**/modelversion/*/change/")
    assert "production" in page.inner_text(".messagelist")

    model = RegisteredModel.objects.get(name="digits", team=team)
    page.goto(f"{url}/admin/models_registry/registeredmodel/{model.pk}/change/")
    page.wait_for_function("document.getElementById('hpml-tryit-body').value.length > 10")
    page.fill("#hpml-tryit-row", "7")  # a row of the uploaded data, as the example
    page.click("#hpml-tryit-fetch")
    page.wait_for_function(
        "document.getElementById('hpml-tryit-label').textContent.startsWith('row 7')"
    )
    assert f"true label {digits[1][7]}" in page.inner_text("#hpml-tryit-label")
    page.click("#hpml-tryit-send")
    page.wait_for_function(
        "document.getElementById('hpml-tryit-answer').textContent.includes('predictions')"
    )
    assert '"version": 1' in page.inner_text("#hpml-tryit-answer")
    page.shot("model")

    page.goto(f"{url}/admin/")
    assert "digits" in page.inner_text("#hpml-models")
    page.shot("dashboard")

    outsider = person(TeamFactory(slug="elsewhere"), "viewer")
    page.context.clear_cookies()
    log_in(page, live_server, outsider.username, PASSWORD)
    assert "digits" not in page.inner_text("#hpml-dashboard")
    for path in (
        f"/admin/models_registry/registeredmodel/{model.pk}/change/",
        f"/admin/datasets/datasetversion/{model.versions.get().dataset_version_id}/change/",
        f"/admin/experiments/trainingrun/{model.versions.get().run_id}/change/",
    ):
        assert page.goto(f"{url}{path}").status == 404
    page.goto(f"{url}/admin/datasets/datasetversion/")
    assert "digits" not in page.inner_text("#content")
    page.shot("outsider")
