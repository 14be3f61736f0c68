"""Who may reach what: every API endpoint and every admin page, asked by every kind of caller.

The rows are checked against the URL configuration, so a new endpoint or admin page without
a row here fails the suite. Each cell expects one status and checks that the answer holds no
data of a team the caller may not read.

Callers: ``anon`` (no credentials), ``staff`` (a staff superuser), ``viewer``, ``scientist``,
``approver`` and ``predictor`` of team A, ``token`` (team A scientist's token limited to
predicting with team A's model ``digits``: any other model reads as missing to it), ``jwt``
(signed on by the identity service as a scientist of team A) and ``other`` (a scientist of
team B). Team B owns objects with the same names as team A's.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver

from tests.accounts import world as world_module

IDENTITIES = ("anon", "staff", "viewer", "scientist", "approver", "predictor", "token", "jwt")
IDENTITIES += ("other",)
A_MEMBERS = ("viewer", "scientist", "approver", "predictor", "jwt")


def expect(**codes) -> dict[str, int]:
    """Codes per identity; ``rest`` fills every identity not named."""
    rest = codes.pop("rest", None)
    table = {identity: codes.get(identity, rest) for identity in IDENTITIES}
    missing = [identity for identity, code in table.items() if code is None]
    assert not missing, f"no expected status for {missing}"
    return table


# --- what each kind of endpoint answers --------------------------------------------------------

READ_A = expect(anon=401, predictor=403, token=403, other=404, rest=200)
LIST = expect(anon=401, token=403, rest=200)
EVERYONE_SIGNED_IN = expect(anon=401, token=403, rest=200)
STAFF_ONLY = expect(anon=401, staff=200, rest=403)
TEAM_A = expect(anon=401, token=403, other=404, rest=200)
PREDICT_A = expect(anon=401, other=404, rest=200)
# A predict-only token sees no model but its own: another one reads as missing.
PREDICT_OTHER_MODEL_A = expect(anon=401, token=404, other=404, rest=200)
OPEN = expect(rest=200)


def write_a(ok: int) -> dict[str, int]:
    return expect(anon=401, viewer=403, predictor=403, token=403, other=404, rest=ok)


def promote_a(ok: int) -> dict[str, int]:
    return expect(
        anon=401, viewer=403, scientist=403, predictor=403, token=403, jwt=403, other=404, rest=ok
    )


@dataclass
class Row:
    name: str  # the URL pattern's name (or its pattern when unnamed)
    method: str
    path: Callable  # world -> path
    expected: dict[str, int]
    body: Callable | None = None  # world -> JSON body

    @property
    def id(self) -> str:
        return f"{self.method} {self.name}"


def model_url(w, tail: str = "") -> str:
    return f"/api/v1/models/digits/{tail}?team={w.a.team.slug}"


def run_body(w) -> dict:
    return {
        "dataset_version": w.a.version.pk,
        "model_name": "fresh",
        "hyperparameters": {"epochs": 1},
    }


def _alias_set(w, alias: str) -> str:
    """Point ``alias`` at team A's version 1 (as the operator); its URL under the model."""
    from models_registry.services import model_alias_set

    model_alias_set(model_version=w.a.model_version, alias=alias)
    return model_url(w, f"aliases/{alias}/")


ROW = [0.0] * 64
API_ROWS = [
    Row("api-root", "GET", lambda w: "/api/v1/", EVERYONE_SIGNED_IN),
    Row("schema", "GET", lambda w: "/api/schema/", EVERYONE_SIGNED_IN),
    Row("swagger-ui", "GET", lambda w: "/api/docs/", EVERYONE_SIGNED_IN),
    Row("healthz", "GET", lambda w: "/healthz", OPEN),
    Row("readyz", "GET", lambda w: "/readyz", OPEN),
    # The test client calls from loopback, which /metrics answers; other addresses need
    # METRICS_TOKEN (tests/hpml_portal/test_metrics.py).
    Row("metrics", "GET", lambda w: "/metrics", OPEN),
    Row("rest_framework:login", "GET", lambda w: "/api-auth/login/", OPEN),
    Row("rest_framework:logout", "GET", lambda w: "/api-auth/logout/", expect(rest=405)),
    Row("team-list", "GET", lambda w: "/api/v1/teams/", EVERYONE_SIGNED_IN),
    Row("team-detail", "GET", lambda w: f"/api/v1/teams/{w.a.team.slug}/", TEAM_A),
    Row("auditevent-list", "GET", lambda w: "/api/v1/audit/", STAFF_ONLY),
    Row("dataset-list", "GET", lambda w: "/api/v1/datasets/", LIST),
    Row(
        "dataset-list",
        "POST",
        lambda w: "/api/v1/datasets/",
        write_a(201),
        lambda w: {"name": "fresh", "team": w.a.team.slug},
    ),
    Row("dataset-detail", "GET", lambda w: f"/api/v1/datasets/{w.a.dataset.pk}/", READ_A),
    Row(
        "dataset-versions-list",
        "GET",
        lambda w: f"/api/v1/datasets/{w.a.dataset.pk}/versions/",
        READ_A,
    ),
    Row(
        "dataset-versions-list",
        "POST",
        lambda w: f"/api/v1/datasets/{w.a.dataset.pk}/versions/",
        write_a(202),
        lambda w: {"builtin": "digits"},
    ),
    Row(
        "dataset-versions-detail",
        "GET",
        lambda w: f"/api/v1/datasets/{w.a.dataset.pk}/versions/{w.a.version.pk}/",
        READ_A,
    ),
    Row("datasetversion-list", "GET", lambda w: "/api/v1/dataset-versions/", LIST),
    Row(
        "datasetversion-detail",
        "GET",
        lambda w: f"/api/v1/dataset-versions/{w.a.version.pk}/",
        READ_A,
    ),
    Row(
        "datasetversion-detail",
        "DELETE",
        lambda w: f"/api/v1/dataset-versions/{w.a.version.pk}/",
        write_a(409),  # a run used it
    ),
    Row(
        "datasetversion-process",
        "POST",
        lambda w: f"/api/v1/dataset-versions/{w.a.version.pk}/process/",
        write_a(202),
        lambda w: {"normalize": "minmax"},
    ),
    Row(
        "datasetversion-retry",
        "POST",
        lambda w: f"/api/v1/dataset-versions/{w.a.version.pk}/retry/",
        write_a(409),  # it is READY
    ),
    Row(
        "datasetversion-lineage",
        "GET",
        lambda w: f"/api/v1/dataset-versions/{w.a.version.pk}/lineage/",
        READ_A,
    ),
    Row(
        "datasetversion-thumbnails",
        "GET",
        lambda w: f"/api/v1/dataset-versions/{w.a.version.pk}/thumbnails/",
        # Its features are not images: readers learn there are none.
        expect(anon=401, predictor=403, token=403, rest=404),
    ),
    Row("experiment-list", "GET", lambda w: "/api/v1/experiments/", LIST),
    Row(
        "experiment-list",
        "POST",
        lambda w: "/api/v1/experiments/",
        write_a(201),
        lambda w: {"name": "fresh", "team": w.a.team.slug},
    ),
    Row("experiment-detail", "GET", lambda w: f"/api/v1/experiments/{w.a.experiment.pk}/", READ_A),
    Row(
        "experiment-runs-list",
        "GET",
        lambda w: f"/api/v1/experiments/{w.a.experiment.pk}/runs/",
        READ_A,
    ),
    Row(
        "experiment-runs-list",
        "POST",
        lambda w: f"/api/v1/experiments/{w.a.experiment.pk}/runs/",
        write_a(202),
        run_body,
    ),
    Row(
        "experiment-runs-detail",
        "GET",
        lambda w: f"/api/v1/experiments/{w.a.experiment.pk}/runs/{w.a.run.pk}/",
        READ_A,
    ),
    Row("trainingrun-list", "GET", lambda w: "/api/v1/runs/", LIST),
    Row("trainingrun-detail", "GET", lambda w: f"/api/v1/runs/{w.a.run.pk}/", READ_A),
    Row("trainingrun-cancel", "POST", lambda w: f"/api/v1/runs/{w.a.run.pk}/cancel/", write_a(200)),
    # Queued, not failed: writers learn it cannot be retried.
    Row("trainingrun-retry", "POST", lambda w: f"/api/v1/runs/{w.a.run.pk}/retry/", write_a(409)),
    # Queued, not succeeded: writers learn it holds no model to register.
    Row(
        "trainingrun-register",
        "POST",
        lambda w: f"/api/v1/runs/{w.a.run.pk}/register/",
        write_a(409),
    ),
    Row(
        "experiment-sweeps-list",
        "GET",
        lambda w: f"/api/v1/experiments/{w.a.experiment.pk}/sweeps/",
        READ_A,
    ),
    Row(
        "experiment-sweeps-list",
        "POST",
        lambda w: f"/api/v1/experiments/{w.a.experiment.pk}/sweeps/",
        write_a(202),
        lambda w: {
            "dataset_version": w.a.version.pk,
            "model_name": "fresh",
            "space": {"epochs": [1, 2]},
        },
    ),
    Row(
        "experiment-sweeps-detail",
        "GET",
        lambda w: f"/api/v1/experiments/{w.a.experiment.pk}/sweeps/{w.a.sweep.pk}/",
        READ_A,
    ),
    Row("sweep-list", "GET", lambda w: "/api/v1/sweeps/", LIST),
    Row("sweep-detail", "GET", lambda w: f"/api/v1/sweeps/{w.a.sweep.pk}/", READ_A),
    Row("sweep-cancel", "POST", lambda w: f"/api/v1/sweeps/{w.a.sweep.pk}/cancel/", write_a(200)),
    # No run has succeeded yet: writers learn there is nothing to register.
    Row(
        "sweep-register-best",
        "POST",
        lambda w: f"/api/v1/sweeps/{w.a.sweep.pk}/register-best/",
        write_a(409),
    ),
    Row("registeredmodel-list", "GET", lambda w: "/api/v1/models/", LIST),
    Row("registeredmodel-detail", "GET", lambda w: model_url(w), READ_A),
    Row("model-versions-list", "GET", lambda w: model_url(w, "versions/"), READ_A),
    Row("model-versions-detail", "GET", lambda w: model_url(w, "versions/1/"), READ_A),
    Row("model-versions-lineage", "GET", lambda w: model_url(w, "versions/1/lineage/"), READ_A),
    Row("model-versions-stats", "GET", lambda w: model_url(w, "versions/1/stats/"), READ_A),
    Row(
        "model-versions-compare",
        "GET",
        lambda w: f"/api/v1/models/digits/versions/compare/?team={w.a.team.slug}&versions=1,1",
        expect(anon=401, predictor=403, token=403, other=404, rest=400),  # one version only
    ),
    # Whoever may predict with the model reaches the check of the labels (none given here).
    Row(
        "prediction-feedback",
        "POST",
        lambda w: f"/api/v1/predictions/{_prediction_log(w).pk}/feedback/",
        expect(anon=401, other=404, rest=400),
        lambda w: {"labels": []},
    ),
    # Version 1 holds production: writers learn it cannot be archived.
    Row(
        "model-versions-archive",
        "POST",
        lambda w: model_url(w, "versions/1/archive/"),
        write_a(409),
    ),
    # Not archived: restoring changes nothing, and answers the version.
    Row(
        "model-versions-restore",
        "POST",
        lambda w: model_url(w, "versions/1/restore/"),
        write_a(200),
    ),
    Row("model-alias-events-list", "GET", lambda w: model_url(w, "alias-events/"), READ_A),
    Row(
        "model-version-aliases-list",
        "POST",
        lambda w: model_url(w, "versions/1/aliases/"),
        write_a(201),
        lambda w: {"alias": "staging", "comment": "matrix"},
    ),
    Row(
        "model-version-aliases-list",
        "POST",
        lambda w: model_url(w, "versions/1/aliases/"),
        # It already points there: 200, for the roles that may move it.
        promote_a(200),
        lambda w: {"alias": "production", "comment": "matrix"},
    ),
    # Each request is rolled back after it: every caller finds the alias set.
    Row(
        "model-aliases-detail",
        "DELETE",
        lambda w: _alias_set(w, "canary") + "&comment=matrix",
        write_a(200),
    ),
    Row(
        "model-aliases-detail",
        "DELETE",
        lambda w: model_url(w, "aliases/production/"),
        promote_a(200),
    ),
    Row(
        "predict",
        "POST",
        lambda w: model_url(w, "predict/"),
        PREDICT_A,
        lambda w: {"instances": [ROW]},
    ),
    Row(
        "predict",
        "POST",
        lambda w: f"/api/v1/models/other/predict/?team={w.a.team.slug}",
        PREDICT_OTHER_MODEL_A,
        lambda w: {"instances": [ROW]},
    ),
    Row(
        "predict",
        "GET",
        lambda w: f"/api/v1/models/other/predict/?team={w.a.team.slug}",
        PREDICT_OTHER_MODEL_A,
    ),
    Row(
        "invocations",
        "GET",
        lambda w: f"/api/v1/models/other/invocations?team={w.a.team.slug}",
        PREDICT_OTHER_MODEL_A,
    ),
    Row(
        "invocations",
        "POST",
        lambda w: f"/api/v1/models/other/invocations?team={w.a.team.slug}",
        PREDICT_OTHER_MODEL_A,
        lambda w: {"dataframe_split": {"columns": [str(i) for i in range(64)], "data": [ROW]}},
    ),
]


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = pattern.name or prefix + str(pattern.pattern)
            yield (f"{namespace}:{name}" if namespace else name), prefix + str(pattern.pattern)


def url_names(prefix: str) -> set[str]:
    return {name for name, path in _walk(get_resolver().url_patterns) if path.startswith(prefix)}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, trained_model_file):
    with django_db_blocker.unblock():
        built = world_module.build(trained_model_file)
        yield built
        world_module.tear_down(built)


@pytest.fixture(autouse=True)
def _matrix_settings(settings, world):
    # Limits have tests of their own; here every cell is one request among many.
    settings.THROTTLE_RATES = {"predict": "off", "submit": "off"}
    settings.JWT_PUBLIC_KEY = world.jwt_key.public_pem()
    settings.JWT_ISSUER = world_module.JWT_ISSUER
    settings.JWT_AUDIENCE = [world_module.JWT_AUDIENCE]
    settings.JWT_ALGORITHMS = ["RS256"]
    settings.JWT_CREATE_USERS = True


def forbidden_markers(world, identity: str) -> list[str]:
    """Data the caller must never see: the other team's, and for callers who may read no
    team's objects, team A's as well."""
    if identity == "staff":
        return []
    if identity == "other":
        return world.a.markers
    if identity in ("viewer", "scientist", "approver", "jwt"):
        return world.b.markers
    return world.a.markers + world.b.markers


def check_cell(response, expected: int, world, identity: str) -> None:
    body = response.content.decode(errors="replace")
    assert response.status_code == expected, f"{identity}: {response.status_code} {body[:300]}"
    leaked = [marker for marker in forbidden_markers(world, identity) if marker in body]
    assert not leaked, f"{identity} was shown {leaked}"


def test_every_api_endpoint_has_a_row():
    routes = url_names("api") | {"healthz", "readyz", "metrics"}
    assert routes == {row.name for row in API_ROWS}


@pytest.mark.django_db
@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("row", API_ROWS, ids=lambda row: row.id)
def test_the_api_answers_each_caller_as_its_role_allows(row, identity, world):
    client = world.api_client(identity)
    path = row.path(world)
    if row.method == "GET":
        response = client.get(path)
    else:
        body = row.body(world) if row.body else None
        data = json.dumps(body) if body is not None else ""
        response = client.generic(row.method, path, data=data, content_type="application/json")

    check_cell(response, row.expected[identity], world, identity)


# --- the admin ---------------------------------------------------------------------------------

ADMIN_IDENTITIES = ("anon", "staff", "viewer", "scientist", "approver", "predictor", "other")
ADMIN_IDENTITIES += ("token", "jwt")  # API credentials open nothing in the admin
SIGNED_OUT = ("anon", "token", "jwt")


def admin_expect(**codes) -> dict[str, int]:
    rest = codes.pop("rest", None)
    table = {identity: codes.get(identity, rest) for identity in ADMIN_IDENTITIES}
    for identity in SIGNED_OUT:
        table[identity] = codes.get("signed_out", 302)  # to the login page
    table.pop("signed_out", None)
    missing = [identity for identity, code in table.items() if code is None]
    assert not missing, f"no expected status for {missing}"
    return table


A_READERS = {"viewer": 200, "scientist": 200, "approver": 200}
SCOPED_LIST = admin_expect(predictor=403, rest=200)
SCOPED_OBJECT = admin_expect(staff=200, **A_READERS, predictor=403, other=404)
SCOPED_DELETE = admin_expect(other=404, rest=403)
SCOPED_ADD = admin_expect(viewer=403, predictor=403, rest=200)
NO_ADD = admin_expect(rest=403)
SUPERUSER = admin_expect(staff=200, rest=403)
REDIRECT = admin_expect(rest=302)


@dataclass
class AdminModel:
    """The expected answers of one model's admin pages, for one object of team A."""

    obj: Callable  # world -> object
    changelist: dict
    add: dict
    change: dict
    delete: dict


TEAM_OWNED = {"changelist": SCOPED_LIST, "change": SCOPED_OBJECT, "delete": SCOPED_DELETE}
ADMIN_MODELS = {
    "datasets_dataset": AdminModel(lambda w: w.a.dataset, add=SCOPED_ADD, **TEAM_OWNED),
    "datasets_datasetversion": AdminModel(lambda w: w.a.version, add=NO_ADD, **TEAM_OWNED),
    "experiments_experiment": AdminModel(lambda w: w.a.experiment, add=SCOPED_ADD, **TEAM_OWNED),
    "experiments_trainingrun": AdminModel(lambda w: w.a.run, add=NO_ADD, **TEAM_OWNED),
    "experiments_sweep": AdminModel(lambda w: w.a.sweep, add=NO_ADD, **TEAM_OWNED),
    "models_registry_registeredmodel": AdminModel(lambda w: w.a.model, add=NO_ADD, **TEAM_OWNED),
    "models_registry_modelversion": AdminModel(
        lambda w: w.a.model_version, add=NO_ADD, **TEAM_OWNED
    ),
    "models_registry_aliasevent": AdminModel(
        lambda w: w.a.model.alias_events.first(), add=NO_ADD, **TEAM_OWNED
    ),
    "inference_predictionlog": AdminModel(lambda w: _prediction_log(w), add=NO_ADD, **TEAM_OWNED),
    "inference_servingcount": AdminModel(lambda w: _serving_count(w), add=NO_ADD, **TEAM_OWNED),
    "accounts_team": AdminModel(
        lambda w: w.a.team,
        changelist=SCOPED_LIST,
        add=SUPERUSER,
        change=SCOPED_OBJECT,
        delete=SCOPED_DELETE,
    ),
    "accounts_membership": AdminModel(
        lambda w: w.users["viewer"].memberships.get(),
        changelist=SUPERUSER,
        add=SUPERUSER,
        change=SUPERUSER,
        delete=admin_expect(rest=403),
    ),
    # Everyone sees and revokes their own tokens; this one is team A's scientist's.
    "accounts_apitoken": AdminModel(
        lambda w: w.tokens["scientist"],
        changelist=admin_expect(rest=200),
        add=admin_expect(rest=200),
        change=admin_expect(staff=200, scientist=200, rest=404),
        delete=admin_expect(staff=403, scientist=403, rest=404),
    ),
    "accounts_auditevent": AdminModel(
        lambda w: w.audit_event,
        changelist=SUPERUSER,
        add=NO_ADD,
        change=SUPERUSER,
        delete=NO_ADD,
    ),
    "auth_user": AdminModel(
        lambda w: w.users["viewer"],
        changelist=SUPERUSER,
        add=SUPERUSER,
        change=SUPERUSER,
        delete=SUPERUSER,
    ),
    "auth_group": AdminModel(
        lambda w: _group(),
        changelist=SUPERUSER,
        add=SUPERUSER,
        change=SUPERUSER,
        delete=SUPERUSER,
    ),
}


def _prediction_log(w):
    from inference.models import PredictionLog

    return PredictionLog.objects.create(
        model_version=w.a.model_version,
        model_name="digits",
        requested="alias:production",
        outcome="ok",
        instances=1,
        predictions=[0],
    )


def _serving_count(w):
    from django.utils import timezone

    from inference.models import ServingCount

    return ServingCount.objects.create(
        minute=timezone.now().replace(second=0, microsecond=0),
        team_key=w.a.team.pk,
        model_name="digits",
        version=1,
        status=200,
        requests=3,
    )


def _group():
    from django.contrib.auth.models import Group

    return Group.objects.get_or_create(name="matrix-group")[0]


def _admin_rows() -> list[Row]:
    registered = {
        f"{m._meta.app_label}_{m._meta.model_name}": (m._meta.app_label, m._meta.model_name)
        for m in admin.site._registry
    }
    rows = []
    for label, spec in ADMIN_MODELS.items():
        app, model = registered[label]
        base = f"/admin/{app}/{model}/"

        def obj_url(tail, spec=spec, base=base):
            return lambda w: f"{base}{spec.obj(w).pk}/{tail}"

        rows += [
            Row(f"admin:{label}_changelist", "GET", lambda w, b=base: b, spec.changelist),
            Row(f"admin:{label}_add", "GET", lambda w, b=base: f"{b}add/", spec.add),
            Row(f"admin:{label}_change", "GET", obj_url("change/"), spec.change),
            Row(f"admin:{label}_history", "GET", obj_url("history/"), spec.change),
            Row(f"admin:{label}_delete", "GET", obj_url("delete/"), spec.delete),
            Row(f"admin:admin/{app}/{model}/<path:object_id>/", "GET", obj_url(""), REDIRECT),
        ]
    return rows


LIVE_PAGES = ("datasets_datasetversion", "experiments_trainingrun", "experiments_sweep")
BUTTON_PAGES = (*LIVE_PAGES, "models_registry_modelversion")


def _object_url(label: str, tail: str) -> Callable:
    """The URL under one of team A's objects' admin page, for a model named app_model."""
    meta = next(
        m._meta for m in admin.site._registry if m._meta.label_lower.replace(".", "_") == label
    )
    base = f"/admin/{meta.app_label}/{meta.model_name}/"
    return lambda w: f"{base}{ADMIN_MODELS[label].obj(w).pk}/{tail}"


PORTAL = admin_expect(rest=200)
ADMIN_ROWS = _admin_rows() + [
    Row("admin:index", "GET", lambda w: "/admin/", PORTAL),
    Row("admin:dashboard", "GET", lambda w: "/admin/dashboard.json", PORTAL),
    # Signed in already: on to the index.
    Row("admin:login", "GET", lambda w: "/admin/login/", admin_expect(signed_out=200, rest=302)),
    Row("admin:logout", "GET", lambda w: "/admin/logout/", admin_expect(signed_out=302, rest=405)),
    Row("admin:password_change", "GET", lambda w: "/admin/password_change/", PORTAL),
    Row("admin:password_change_done", "GET", lambda w: "/admin/password_change/done/", PORTAL),
    Row("admin:jsi18n", "GET", lambda w: "/admin/jsi18n/", PORTAL),
    # Without a field to complete, the autocomplete view refuses everyone.
    Row("admin:autocomplete", "GET", lambda w: "/admin/autocomplete/", admin_expect(rest=403)),
    # No model here has a public URL to send people to.
    Row("admin:view_on_site", "GET", lambda w: _view_on_site(w), admin_expect(rest=404)),
    Row(
        "admin:app_list",
        "GET",
        lambda w: "/admin/datasets/",
        admin_expect(predictor=404, rest=200),
    ),
    Row(
        "admin:admin/(?P<url>.*)$", "GET", lambda w: "/admin/nothing-here/", admin_expect(rest=404)
    ),
    Row(
        "admin:auth_user_password_change",
        "GET",
        lambda w: f"/admin/auth/user/{w.users['viewer'].pk}/password/",
        SUPERUSER,
    ),
    Row(
        "admin:datasets_datasetversion_process",
        "GET",
        lambda w: f"/admin/datasets/datasetversion/{w.a.version.pk}/process/",
        admin_expect(viewer=403, predictor=403, other=404, rest=200),
    ),
    Row(
        "admin:datasets_datasetversion_thumbnails",
        "GET",
        lambda w: f"/admin/datasets/datasetversion/{w.a.version.pk}/thumbnails.png",
        admin_expect(predictor=403, rest=404),  # its features are not images
    ),
    *(
        Row(
            f"admin:datasets_datasetversion_{form}",
            "GET",
            lambda w, form=form: f"/admin/datasets/datasetversion/{w.a.version.pk}/{form}/",
            admin_expect(viewer=403, predictor=403, other=404, rest=200),
        )
        for form in ("train", "sweep")
    ),
    # An object page's parts that refresh while its job runs, read like the page itself.
    *(
        Row(f"admin:{label}_live", "GET", _object_url(label, "live.json"), TEAM_OWNED["change"])
        for label in LIVE_PAGES
    ),
    # Buttons on an object's page only POST.
    *(
        Row(f"admin:{label}_button", "GET", _object_url(label, "do/x/"), admin_expect(rest=405))
        for label in BUTTON_PAGES
    ),
    Row(
        "admin:datasets_datasetversion_upload",
        "GET",
        lambda w: "/admin/datasets/datasetversion/upload/",
        admin_expect(viewer=403, predictor=403, rest=200),
    ),
    # Scientists may set aliases other than production: they reach the form too.
    Row(
        "admin:models_registry_modelversion_promote",
        "GET",
        lambda w: f"/admin/models_registry/modelversion/{w.a.model_version.pk}/promote/",
        admin_expect(viewer=403, predictor=403, other=404, rest=200),
    ),
    # Removing an alias only POSTs; a GET goes back to the promote page.
    Row(
        "admin:models_registry_modelversion_unalias",
        "GET",
        lambda w: f"/admin/models_registry/modelversion/{w.a.model_version.pk}/unalias/",
        admin_expect(predictor=403, other=404, rest=302),
    ),
    # Its readers reach the check of the row: the version has 90 rows, numbered 0 to 89.
    Row(
        "admin:models_registry_registeredmodel_example",
        "GET",
        lambda w: (
            f"/admin/models_registry/registeredmodel/{w.a.model.pk}/example/"
            f"?dataset_version={w.a.version.pk}&row=90"
        ),
        admin_expect(predictor=403, other=404, rest=400),
    ),
]


def _view_on_site(w) -> str:
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_model(w.a.dataset)
    return f"/admin/r/{content_type.pk}/{w.a.dataset.pk}/"


def test_every_admin_page_has_a_row():
    pages = url_names("admin/")
    assert pages == {row.name for row in ADMIN_ROWS}
    registered = {f"{m._meta.app_label}_{m._meta.model_name}" for m in admin.site._registry}
    assert registered == set(ADMIN_MODELS)


@pytest.mark.django_db
@pytest.mark.parametrize("identity", ADMIN_IDENTITIES)
@pytest.mark.parametrize("row", ADMIN_ROWS, ids=lambda row: row.id)
def test_the_admin_answers_each_person_as_their_role_allows(row, identity, world, client):
    if identity in world.users and identity != "token":
        client.force_login(world.users[identity])
    elif identity == "token":
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {world.keys['token']}"
    elif identity == "jwt":
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {world.jwt_token()}"

    response = client.get(row.path(world))

    check_cell(response, row.expected[identity], world, identity)
