"""Model versions side by side: the API and the admin."""

import pytest

from models_registry import services
from tests.conftest import token_client
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/digits/versions/compare/"


@pytest.fixture
def two(model_version):
    """Versions 1 and 2 of "digits" with different metrics; 2 holds production."""
    model_version.metrics = {"test_accuracy": 0.9, "test_loss": 0.3, "per_class": {"0": {}}}
    model_version.save(update_fields=["metrics"])
    second = services.model_version_register(
        model_name="digits",
        artifact=services.Artifact(model_version.artifact.name, model_version.sha256, 1),
        signature=model_version.signature,
        metrics={"test_accuracy": 0.95, "macro_f1": 0.94},
    )
    services.model_alias_set(model_version=second, alias="production")
    return model_version, second


def test_versions_are_compared_in_the_order_asked(api_client, two):
    answer = api_client.get(f"{URL}?versions=2,1")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["versions"] == [2, 1] and body["aliases"] == [["production"], []]
    assert body["metrics"] == [
        {"name": "macro_f1", "values": [0.94, None]},
        {"name": "test_accuracy", "values": [0.95, 0.9]},
        {"name": "test_loss", "values": [None, 0.3]},
    ]  # per-class tables stay on the versions


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "compare 2 to 10 distinct versions"),
        ("?versions=1", 400, "compare 2 to 10"),
        ("?versions=1,1", 400, "compare 2 to 10"),
        ("?versions=1,x", 400, "comma-separated"),
        ("?versions=" + ",".join(map(str, range(1, 13))), 400, "compare 2 to 10"),
        ("?versions=1,7", 404, "has no version 7"),
    ],
)
def test_a_bad_comparison_is_refused(api_client, two, query, status, message):
    answer = api_client.get(f"{URL}{query}")

    assert answer.status_code == status and message in str(answer.json())


def test_another_teams_model_reads_as_missing(two):
    outsider = UserFactory()
    MembershipFactory(team=TeamFactory(), user=outsider, role="viewer")

    assert token_client(outsider).get(f"{URL}?versions=1,2").status_code == 404


def test_the_admin_compares_the_selected_versions(client, admin_user, two):
    client.force_login(admin_user)
    first, second = two

    page = client.post(
        "/admin/models_registry/modelversion/",
        {"action": "compare_versions", "_selected_action": [first.pk, second.pk]},
    )
    alone = client.post(
        "/admin/models_registry/modelversion/",
        {"action": "compare_versions", "_selected_action": [first.pk]},
        follow=True,
    )

    html = page.content.decode()
    assert page.status_code == 200 and "Compare model versions" in html
    assert "<th>test_accuracy</th><td>0.9</td><td>0.95</td>" in html
    assert "Select 2 to 10 versions." in alone.content.decode()
