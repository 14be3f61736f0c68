from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from accounts.api.viewsets import NamedCreateMixin, NestedViewSet, TeamScopedViewSet
from hpml_portal.errors import Unavailable

from .. import selectors, services
from ..models import DatasetVersion
from .filters import DatasetFilter, DatasetVersionFilter
from .serializers import (
    DatasetSerializer,
    DatasetVersionCreateSerializer,
    DatasetVersionSerializer,
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
        request={
            "multipart/form-data": DatasetVersionCreateSerializer,
            "application/json": DatasetVersionCreateSerializer,
        },
        responses={
            202: DatasetVersionSerializer,
            200: OpenApiResponse(DatasetVersionSerializer, "this content is already a version"),
            503: OpenApiResponse(description="the check could not be queued (broker down)"),
        },
    )
    def create(self, request, *args, **kwargs):
        dataset = self.get_parent()
        form = DatasetVersionCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        if data.get("builtin"):
            source = services.IngestSource.builtin(data["builtin"])
        else:
            upload = data["file"]
            source = services.IngestSource.upload(upload, upload.name, data["label_column"])
        version, created = services.dataset_version_ingest(
            dataset_name=dataset.name, team=dataset.team, source=source, user=request.user
        )
        version.refresh_from_db()
        if version.status == DatasetVersion.Status.FAILED:  # it could not be queued
            raise Unavailable(version.error)
        return Response(
            DatasetVersionSerializer(version).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


class DatasetVersionFlatViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet
):
    """Every dataset version of your teams, by id."""

    selector = staticmethod(selectors.dataset_version_list)
    serializer_class = DatasetVersionSerializer
    filterset_class = DatasetVersionFilter
    search_fields = ["dataset__name", "sha256", "source"]
    ordering_fields = ["created_at", "version", "status"]
