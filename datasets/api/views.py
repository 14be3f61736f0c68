from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from .. import selectors, services
from ..models import DatasetVersion
from .serializers import (
    DatasetSerializer,
    DatasetVersionCreateSerializer,
    DatasetVersionSerializer,
)


class DatasetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = selectors.dataset_list()
    serializer_class = DatasetSerializer

    def perform_create(self, serializer):
        try:
            dataset = services.dataset_create(user=self.request.user, **serializer.validated_data)
        except services.DatasetError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        serializer.instance = selectors.dataset_list().get(pk=dataset.pk)

    @extend_schema(
        methods=["POST"],
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
    @extend_schema(methods=["GET"], responses=DatasetVersionSerializer(many=True))
    @action(
        detail=True,
        methods=["get", "post"],
        parser_classes=[MultiPartParser, FormParser, JSONParser],
        serializer_class=DatasetVersionSerializer,
    )
    def versions(self, request, pk=None):
        """List a dataset's versions, or ingest a new one (checked on a worker: 202)."""
        dataset = self.get_object()
        if request.method == "GET":
            versions = selectors.dataset_version_list().filter(dataset=dataset)
            page = self.paginate_queryset(versions)
            return self.get_paginated_response(DatasetVersionSerializer(page, many=True).data)
        form = DatasetVersionCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            if data.get("builtin"):
                source = services.IngestSource.builtin(data["builtin"])
            else:
                upload = data["file"]
                source = services.IngestSource.upload(upload, upload.name, data["label_column"])
            version, created = services.dataset_version_ingest(
                dataset_name=dataset.name, source=source, user=request.user
            )
        except services.DatasetError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        version.refresh_from_db()
        if version.status == DatasetVersion.Status.FAILED:  # it could not be queued
            return Response({"detail": version.error}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(
            DatasetVersionSerializer(version).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


class DatasetVersionViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.dataset_version_list()
    serializer_class = DatasetVersionSerializer
