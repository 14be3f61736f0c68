from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter
from rest_framework_nested.routers import NestedSimpleRouter

from accounts.api.views import AuditEventViewSet, TeamViewSet
from datasets.api.views import DatasetVersionFlatViewSet, DatasetVersionViewSet, DatasetViewSet
from experiments.api.views import (
    ExperimentRunViewSet,
    ExperimentSweepViewSet,
    ExperimentViewSet,
    SweepViewSet,
    TrainingRunViewSet,
)
from inference.api.views import FeedbackView, InvocationsView, PredictView
from models_registry.api.views import (
    AliasEventViewSet,
    ModelAliasViewSet,
    ModelVersionAliasViewSet,
    ModelVersionViewSet,
    RegisteredModelViewSet,
)

from . import health, metrics

router = DefaultRouter()
router.register("teams", TeamViewSet, basename="team")
router.register("audit", AuditEventViewSet, basename="auditevent")
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("dataset-versions", DatasetVersionFlatViewSet, basename="datasetversion")
router.register("experiments", ExperimentViewSet, basename="experiment")
router.register("runs", TrainingRunViewSet, basename="trainingrun")
router.register("sweeps", SweepViewSet, basename="sweep")
router.register("models", RegisteredModelViewSet, basename="registeredmodel")

# Nested resources: each looks its parent up among the caller's teams' objects.
datasets = NestedSimpleRouter(router, "datasets", lookup="dataset")
datasets.register("versions", DatasetVersionViewSet, basename="dataset-versions")
experiments = NestedSimpleRouter(router, "experiments", lookup="experiment")
experiments.register("runs", ExperimentRunViewSet, basename="experiment-runs")
experiments.register("sweeps", ExperimentSweepViewSet, basename="experiment-sweeps")
models = NestedSimpleRouter(router, "models", lookup="model")
models.register("versions", ModelVersionViewSet, basename="model-versions")
models.register("alias-events", AliasEventViewSet, basename="model-alias-events")
models.register("aliases", ModelAliasViewSet, basename="model-aliases")
versions = NestedSimpleRouter(models, "versions", lookup="version")
versions.register("aliases", ModelVersionAliasViewSet, basename="model-version-aliases")

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/models/<slug:name>/predict/", PredictView.as_view(), name="predict"),
    path(
        "api/v1/predictions/<int:pk>/feedback/",
        FeedbackView.as_view(),
        name="prediction-feedback",
    ),
    path(
        "api/v1/models/<slug:name>/invocations",
        InvocationsView.as_view(),
        name="invocations",
    ),
    path("api/v1/", include(router.urls)),
    path("api/v1/", include(datasets.urls)),
    path("api/v1/", include(experiments.urls)),
    path("api/v1/", include(models.urls)),
    path("api/v1/", include(versions.urls)),
    path("api-auth/", include("rest_framework.urls")),
]

# A URL under /api/ that no route matches answers the API's JSON error, not an HTML page.
handler404 = "hpml_portal.api.exceptions.not_found"
