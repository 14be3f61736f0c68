from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from accounts.api.viewsets import NamedCreateMixin, NestedViewSet, TeamScopedViewSet
from hpml_portal.api.schema import errors
from hpml_portal.errors import Unavailable

from .. import selectors, services
from ..models import DatasetVersion
from .filters import DatasetFilter, DatasetVersionFilter
from .serializers import (
    VERSION_SOURCES,
    DatasetSerializer,
    DatasetVersionCreateSerializer,
    DatasetVersionSerializer,
    RecipeSerializer,
    UploadSource,
)

NOT_QUEUED = "the job could not be queued (broker down): retry it later"


@extend_schema_view(
    create=extend_schema(
        responses={
            201: DatasetSerializer,
            **errors(
                {
                    404: "no team of that name among yours",
                    409: "the team already has a dataset of that name",
                }
            ),
        }
    )
)
class DatasetViewSet(
    NamedCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    TeamScopedViewSet,
):
    """Datasets of your teams. A new one goes to your team (``"team"`` when you have several)."""

    selector = staticmethod(selectors.dataset_list)
    create_service = staticmethod(services.dataset_create)
    unique_names = True
    serializer_class = DatasetSerializer
    filterset_class = DatasetFilter
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at", "version_count"]


class DatasetVersionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, NestedViewSet
):
    """The versions of one dataset; POST ingests a new one (checked on a worker: 202)."""

    selector = staticmethod(selectors.dataset_version_list)
    parent_selector = staticmethod(selectors.dataset_list)
    parent_kwarg, parent_field = "dataset_pk", "dataset"
    serializer_class = DatasetVersionSerializer
    filterset_class = DatasetVersionFilter
    search_fields = ["sha256", "source"]
    ordering_fields = ["version", "created_at", "status"]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={"multipart/form-data": UploadSource, "application/json": VERSION_SOURCES},
        responses={
            202: DatasetVersionSerializer,
            200: OpenApiResponse(DatasetVersionSerializer, "this content is already a version"),
            **errors(
                {
                    413: "the file is over DATASET_MAX_UPLOAD_BYTES",
                    503: NOT_QUEUED,
                }
            ),
        },
    )
    def create(self, request, *args, **kwargs):
        dataset = self.get_parent()
        form = DatasetVersionCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        version, created = services.dataset_version_ingest(
            dataset_name=dataset.name,
            team=dataset.team,
            source=form.ingest_source(),
            user=request.user,
        )
        return _queued(version, created, request)


def _queued(version: DatasetVersion, created: bool, request) -> Response:
    """202 and the new version (200 and the existing one); 503 when it could not be queued."""
    version.refresh_from_db()
    if created and version.never_queued:
        raise Unavailable(
            f"{version.ref} (id {version.pk}) was not queued: {version.error}; retry it with "
            f"POST /api/v1/dataset-versions/{version.pk}/retry/ once the broker is back"
        )
    return Response(
        DatasetVersionSerializer(version, context={"request": request}).data,
        status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
    )


@extend_schema_view(
    destroy=extend_schema(
        responses={204: None, **errors({409: "runs, models or processed versions use it"})}
    )
)
class DatasetVersionFlatViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TeamScopedViewSet
):
    """Every dataset version of your teams, by id. DELETE removes an unused version (409 with
    the reason when runs, models or processed versions use it)."""

    selector = staticmethod(selectors.dataset_version_list)
    serializer_class = DatasetVersionSerializer
    filterset_class = DatasetVersionFilter
    search_fields = ["dataset__name", "sha256", "source"]
    ordering_fields = ["created_at", "version", "status"]

    @extend_schema(
        request=RecipeSerializer,
        responses={
            202: DatasetVersionSerializer,
            200: OpenApiResponse(DatasetVersionSerializer, "this recipe already made a version"),
            **errors({503: NOT_QUEUED}),
        },
    )
    @action(detail=True, methods=["post"])
    def process(self, request, pk=None):
        """Queue a new version made by normalizing, splitting and/or reshaping this one."""
        version = self.get_object()
        recipe = RecipeSerializer(data=request.data)
        recipe.is_valid(raise_exception=True)
        child, created = services.dataset_version_process(
            version=version, spec=dict(recipe.validated_data), user=request.user
        )
        return _queued(child, created, request)

    @extend_schema(
        request=None,
        responses={
            202: DatasetVersionSerializer,
            **errors({409: "the version is not FAILED, or cannot be retried", 503: NOT_QUEUED}),
        },
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Queue a FAILED version's ingest again (409 when it cannot be)."""
        version = services.dataset_version_retry(version=self.get_object(), user=request.user)
        return _queued(version, True, request)

    @extend_schema(responses={200: OpenApiResponse(description="ancestors, descendants, users")})
    @action(detail=True, methods=["get"])
    def lineage(self, request, pk=None):
        """Where this version came from and what was made from it."""
        return Response(selectors.dataset_version_lineage(self.get_object()))

    @extend_schema(
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            **errors({404: "no such version among yours, or its features are not images"}),
        }
    )
    @action(detail=True, methods=["get"], url_path="thumbnails", url_name="thumbnails")
    def thumbnails(self, request, pk=None):
        """A PNG grid of the first samples, for image-shaped features (404 otherwise)."""
        png = selectors.dataset_version_thumbnails(self.get_object())
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response

    def perform_destroy(self, instance):
        services.dataset_version_delete(version=instance, user=self.request.user)
