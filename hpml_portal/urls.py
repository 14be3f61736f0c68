from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from datasets.api.views import DatasetVersionViewSet, DatasetViewSet
from experiments.api.views import ExperimentViewSet, TrainingRunViewSet
from inference.api.views import PredictView
from models_registry.api.views import RegisteredModelViewSet

from . import health

router = DefaultRouter()
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("dataset-versions", DatasetVersionViewSet, basename="datasetversion")
router.register("experiments", ExperimentViewSet, basename="experiment")
router.register("runs", TrainingRunViewSet, basename="trainingrun")
router.register("models", RegisteredModelViewSet, basename="registeredmodel")

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/models/<slug:name>/predict/", PredictView.as_view(), name="predict"),
    path("api/v1/", include(router.urls)),
    path("api-auth/", include("rest_framework.urls")),
]
