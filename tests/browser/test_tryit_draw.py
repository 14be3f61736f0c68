"""Drawing a digit on a model's page and asking the model what it is, in a real browser."""

import json

import pytest

from datasets import services as dataset_services
from datasets.ingest import dataset_version_execute
from models_registry.services import model_alias_set
from tests.browser.conftest import log_in
from tests.factories import member
from tests.helpers import register_trained_digits

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-pass-1"


@pytest.fixture
def digits_model(team, trained_model_file):
    """The session's digits model, registered as trained on the ingested built-in digits."""
    version, _ = dataset_services.dataset_version_ingest(
        dataset_name="digits", source=dataset_services.IngestSource.builtin("digits")
    )
    digits = dataset_version_execute(version_id=version.pk)
    registered = register_trained_digits(*trained_model_file, dataset_version=digits)
    model_alias_set(model_version=registered, alias="production")
    return registered.model


def test_a_digit_drawn_on_the_pad_is_predicted(page, live_server, team, digits_model):
    viewer = member(team, "viewer")
    viewer.set_password(PASSWORD)
    viewer.save()
    log_in(page, live_server, viewer.username, PASSWORD)
    page.goto(f"{live_server.url}/admin/models_registry/registeredmodel/{digits_model.pk}/change/")
    # The example body arrives first; the drawing then replaces it.
    page.wait_for_function("document.getElementById('hpml-tryit-body').value.length > 10")

    pad = page.locator("#hpml-tryit-canvas").bounding_box()
    x, top = pad["x"] + pad["width"] / 2, pad["y"] + pad["height"] * 0.15
    page.mouse.move(x, top)
    page.mouse.down()
    for step in range(1, 15):
        page.mouse.move(x + step, top + step * pad["height"] * 0.05)
    page.mouse.up()
    page.wait_for_function(
        "document.getElementById('hpml-tryit-status').textContent.startsWith('drawn')"
    )
    row = json.loads(page.input_value("#hpml-tryit-body"))["instances"][0]
    page.click("#hpml-tryit-send")
    page.wait_for_function(
        "document.getElementById('hpml-tryit-answer').textContent.includes('predictions')"
    )
    page.shot("drawn")

    assert len(row) == 64 and all(0 <= value <= 16 for value in row) and max(row) > 8
    answer = json.loads(page.inner_text("#hpml-tryit-answer"))
    assert answer["version"] == 1 and len(answer["predictions"]) == 1
    assert page.inner_text("#hpml-tryit-status") == "answered"
