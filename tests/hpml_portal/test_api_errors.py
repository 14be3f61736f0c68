"""What every API operation shares: its error answers, their shape in the schema, pages."""

import pytest

from tests.openapi import component, openapi, parameter


def test_every_operation_documents_the_errors_every_view_can_answer():
    for path, methods in openapi()["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in methods.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403"} <= codes, (method, path, codes)
            if "{" in path:
                assert "404" in codes, (method, path)
            if method == "post":
                assert {"413", "429"} <= codes, (method, path)


def test_error_answers_share_one_component_with_a_detail():
    error = component("Error")
    assert error["required"] == ["detail"]
    responses = openapi()["paths"]["/api/v1/runs/{id}/cancel/"]["post"]["responses"]
    for code in ("400", "401", "403", "404", "409", "429"):
        schema = responses[code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, code


@pytest.mark.django_db
def test_a_refused_body_answers_a_detail_besides_its_field_errors(api_client):
    answer = api_client.post("/api/v1/datasets/", {"name": "not a slug"}, format="json")

    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("name: ")
    assert answer.json()["name"]  # the field's own messages are still there


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["", "0", "-1", "1.5", "abc", "last", "9" * 30])
def test_a_page_that_is_not_a_whole_number_from_1_is_400(page, api_client):
    answer = api_client.get(f"/api/v1/datasets/?page={page}")

    assert answer.status_code == 400
    assert "page must be a whole number from 1" in answer.json()["detail"]


@pytest.mark.django_db
def test_a_page_past_the_last_is_404_and_the_first_is_there(api_client):
    assert api_client.get("/api/v1/datasets/?page=1").status_code == 200
    answer = api_client.get("/api/v1/datasets/?page=2")

    assert answer.status_code == 404
    assert answer.json()["detail"] == "page 2 is past the last page"


def test_the_page_parameter_is_a_whole_number_from_1_in_the_schema():
    page = parameter("/api/v1/datasets/", "GET", "page")

    assert page["schema"]["type"] == "integer" and page["schema"]["minimum"] == 1
    responses = openapi()["paths"]["/api/v1/datasets/"]["get"]["responses"]
    assert "past the last" in responses["404"]["description"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/runs/0.5/", "/api/v1/models/%C2%84/", "/api/v1/predictions/x/feedback/"]
)
def test_an_api_url_no_route_matches_is_a_json_404(path, api_client):
    answer = api_client.get(path)

    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/json" and "detail" in answer.json()


@pytest.mark.django_db
def test_a_page_url_no_route_matches_stays_an_html_404(client):
    answer = client.get("/no-such-page/")

    assert answer.status_code == 404 and answer["Content-Type"].startswith("text/html")


def test_two_first_schemas_made_at_once_do_not_race(monkeypatch):
    """drf-spectacular resolves an extension's class on first use; with a slow import, two
    requests making the first schema at once both started resolving one for a missing app, and
    the second read the None the first wrote (an AttributeError: the schema answered 500).
    A process resolves them all as it starts (AccountsConfig.ready), as done here."""
    import threading
    import time

    from drf_spectacular import plumbing
    from drf_spectacular.extensions import OpenApiAuthenticationExtension
    from drf_spectacular.generators import SchemaGenerator

    from hpml_portal.api import schema

    real_import = plumbing.import_string

    def slow_import(path):
        if path.startswith("no_such_app."):
            time.sleep(0.2)
        return real_import(path)

    class Missing(OpenApiAuthenticationExtension):
        target_class = "no_such_app.Authentication"
        name = "missing"

    monkeypatch.setattr(plumbing, "import_string", slow_import)
    monkeypatch.setitem(schema._resolved, "done", False)
    failures = []

    def make():
        try:
            SchemaGenerator().get_schema(request=None, public=True)
        except Exception as exc:  # noqa: BLE001 (collected for the assertion)
            failures.append(exc)

    try:
        schema.resolve_extension_targets()  # what a process does as it starts
        threads = [threading.Thread(target=make) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        OpenApiAuthenticationExtension._registry.remove(Missing)

    assert failures == [] and Missing.target_class is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query", ["/api/v1/runs/?dataset_version=", "/api/v1/runs/?status=", "/api/v1/audit/?since="]
)
def test_an_id_status_or_date_filter_given_empty_is_400(query, api_client, admin_user):
    from tests.conftest import token_client

    answer = token_client(admin_user).get(query)

    assert answer.status_code == 400 and "is empty" in answer.json()["detail"]


@pytest.mark.django_db
def test_a_text_filter_given_empty_is_no_filter(api_client):
    assert api_client.get("/api/v1/runs/?model_name=").status_code == 200


def test_each_view_has_a_schema_inspector_of_its_own():
    """One inspector set on a base class was shared by every view: two requests making the
    schema at once read each other's view (a FilterSet checked against another's model)."""
    from datasets.api.views import DatasetViewSet
    from experiments.api.views import SweepViewSet

    datasets, sweeps = DatasetViewSet(), SweepViewSet()

    assert datasets.schema is not sweeps.schema
    assert datasets.schema.view is datasets and sweeps.schema.view is sweeps
