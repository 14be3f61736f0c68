import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inference.models import PredictionLog
from models_registry import services
from models_registry.models import AliasEvent, ModelAlias
from tests.factories import member

VERSIONS = "/admin/models_registry/modelversion/"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def history(v1, v2, user):
    """Two versions with some alias history and a prediction log, so every column renders."""
    services.model_alias_set(model_version=v1, alias="production", comment="first")
    services.model_alias_set(model_version=v2, alias="production", user=user, comment="second")
    services.model_alias_set(model_version=v2, alias="staging")
    PredictionLog.objects.create(
        model_version=v2,
        model_name="digits",
        requested="alias:production",
        outcome=PredictionLog.Outcome.OK,
        instances=1,
        latency_ms=1.5,
        user=user,
    )


def promote(client, *versions, action="promote_production"):
    return client.post(
        VERSIONS, {"action": action, "_selected_action": [v.pk for v in versions]}, follow=True
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    "url",
    [
        "/admin/models_registry/registeredmodel/",
        VERSIONS,
        "/admin/models_registry/aliasevent/",
        "/admin/inference/predictionlog/",
    ],
)
def test_the_changelists_answer(url, admin_client, history):
    response = admin_client.get(url)

    assert response.status_code == 200
    assert "digits" in response.content.decode()


def test_a_model_page_shows_its_aliases_and_their_history(admin_client, history, v1):
    response = admin_client.get(f"/admin/models_registry/registeredmodel/{v1.model_id}/change/")

    assert response.status_code == 200
    assert "alias history" in response.content.decode().lower()


def test_a_model_page_makes_the_same_queries_for_a_short_or_long_history(
    admin_client, register, user
):
    first = register("digits")
    services.model_alias_set(model_version=first, alias="production", user=user)
    url = f"/admin/models_registry/registeredmodel/{first.model_id}/change/"
    with CaptureQueriesContext(connection) as short:
        admin_client.get(url)
    for alias in ["staging", "canary", "shadow", "eu"]:
        services.model_alias_set(model_version=register("digits"), alias=alias, user=user)
        services.model_alias_set(model_version=register("digits"), alias=alias, user=user)

    with CaptureQueriesContext(connection) as long:
        admin_client.get(url)

    assert len(long) == len(short)


def test_a_version_page_answers(admin_client, history, v1):
    assert admin_client.get(f"{VERSIONS}{v1.pk}/change/").status_code == 200


@pytest.mark.parametrize(
    "url", ["/admin/models_registry/aliasevent/", VERSIONS, "/admin/inference/predictionlog/"]
)
def test_a_changelist_makes_the_same_queries_for_few_rows_or_many(
    url, admin_client, register, user
):
    def add_rows(name):
        version = register(name)
        services.model_alias_set(model_version=version, alias="production", user=user)
        PredictionLog.objects.create(
            model_version=version, model_name=name, requested="alias:production", outcome="ok"
        )

    add_rows("m0")
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    for i in range(1, 5):
        add_rows(f"m{i}")

    with CaptureQueriesContext(connection) as many:
        admin_client.get(url)

    assert len(many) == len(few)


def test_promote_to_production_moves_the_alias_with_an_audit_row(admin_client, admin_user, v1):
    assert "promote_production" in admin_client.get(VERSIONS).content.decode()

    response = promote(admin_client, v1)

    assert response.status_code == 200
    assert messages_of(response) == ["digits@production → v1."]
    assert ModelAlias.objects.get(alias="production").version == v1
    event = AliasEvent.objects.get()
    assert event.to_version == v1 and event.from_version is None
    assert event.user == admin_user and event.comment == "set in the admin"


def test_promote_to_staging_sets_the_staging_alias(admin_client, v1):
    promote(admin_client, v1, action="promote_staging")

    assert ModelAlias.objects.get().alias == "staging"


def test_promoting_the_version_already_in_production_changes_nothing(admin_client, v1):
    promote(admin_client, v1)

    response = promote(admin_client, v1)

    assert messages_of(response) == ["digits@production already is v1."]
    assert AliasEvent.objects.count() == 1


def test_one_version_of_each_of_several_models_is_promoted(admin_client, v1, register):
    iris = register("iris")

    promote(admin_client, v1, iris)

    assert {(a.model.name, a.version_id) for a in ModelAlias.objects.all()} == {
        ("digits", v1.pk),
        ("iris", iris.pk),
    }


def test_two_versions_of_one_model_are_refused_and_nothing_changes(admin_client, v1, v2):
    response = promote(admin_client, v1, v2)

    assert messages_of(response) == ["Select at most one version of each model to promote."]
    assert not ModelAlias.objects.exists() and not AliasEvent.objects.exists()


def test_a_viewer_is_offered_no_promotion_and_cannot_promote(client, team, v1):
    client.force_login(member(team, "viewer"))

    page = client.get(VERSIONS)
    response = promote(client, v1)

    assert page.status_code == 200 and "promote_" not in page.content.decode()
    assert response.status_code == 200
    assert not ModelAlias.objects.exists() and not AliasEvent.objects.exists()


def test_a_scientist_may_set_staging_but_not_production(client, team, v1):
    client.force_login(member(team, "scientist"))

    page = client.get(VERSIONS).content.decode()
    refused = promote(client, v1)
    staged = promote(client, v1, action="promote_staging")

    assert "promote_staging" in page and "promote_production" not in page
    assert "production" not in {a.alias for a in ModelAlias.objects.all()}
    assert {a.alias for a in ModelAlias.objects.all()} == {"staging"}
    assert refused.status_code == 200 and staged.status_code == 200
    assert AliasEvent.objects.get().user.username.startswith("user")


def test_an_approver_moves_production_in_the_admin(client, team, v1):
    approver = member(team, "approver")
    client.force_login(approver)

    response = promote(client, v1)

    assert messages_of(response) == ["digits@production → v1."]
    assert AliasEvent.objects.get(alias="production").user == approver


@pytest.mark.django_db
def test_the_model_page_compares_versions_and_lets_a_person_try_a_prediction(
    production, second_version, team, digits
):
    import json

    from django.test import Client

    from models_registry.services import model_alias_set
    from tests.factories import MembershipFactory, UserFactory

    model_alias_set(model_version=second_version, alias="staging")
    viewer = UserFactory()
    MembershipFactory(team=team, user=viewer, role="viewer")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(viewer)

    page = browser.get(f"/admin/models_registry/registeredmodel/{production.model_id}/change/")
    html = page.content.decode()
    url = "/api/v1/models/digits/predict/?team=default&alias=staging"
    example = browser.get(url, HTTP_ACCEPT="application/json").json()
    answer = browser.post(
        url,
        json.dumps(example["example"]),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=page.cookies["csrftoken"].value,
    )
    refused = browser.post(url, json.dumps(example["example"]), content_type="application/json")

    assert (
        page.status_code == 200 and 'data-url="/api/v1/models/digits/predict/?team=default"' in html
    )
    assert "hpml/tryit.js" in html
    table = html.split("Versions, newest first")[1]
    assert (
        table.index(">v2<") < table.index(">v1<") and "staging" in table and "production" in table
    )
    assert answer.status_code == 200 and answer.json()["version"] == 2
    assert refused.status_code == 403  # no CSRF token: the form sends it


@pytest.mark.django_db
def test_the_version_page_shows_its_size_and_metrics_for_people(client, admin_user, production):
    client.force_login(admin_user)

    page = client.get(f"/admin/models_registry/modelversion/{production.pk}/change/")
    html = page.content.decode()

    assert page.status_code == 200
    assert "KB" in html or "MB" in html  # not a count of bytes
    assert "<th scope='row'>test_accuracy</th>" in html
