from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from .. import selectors, services
from .serializers import (
    AliasEventSerializer,
    AliasSetSerializer,
    ModelVersionSerializer,
    RegisteredModelSerializer,
)

VERSION = r"versions/(?P<version>[0-9]+)"


class RegisteredModelViewSet(viewsets.ReadOnlyModelViewSet):
    """Registered models, their versions, aliases and lineage, addressed by model name."""

    queryset = selectors.registered_model_list()
    serializer_class = RegisteredModelSerializer
    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    def _version(self, name: str, version: str):
        try:
            return selectors.model_version_get(name, int(version))
        except selectors.ModelNotFound as exc:
            raise NotFound(str(exc)) from exc

    @extend_schema(responses=ModelVersionSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=ModelVersionSerializer)
    def versions(self, request, name=None):
        model = self.get_object()
        page = self.paginate_queryset(selectors.model_version_list().filter(model=model))
        return self.get_paginated_response(ModelVersionSerializer(page, many=True).data)

    @extend_schema(responses=ModelVersionSerializer)
    @action(detail=True, methods=["get"], url_path=VERSION, serializer_class=ModelVersionSerializer)
    def version(self, request, name=None, version=None):
        return Response(ModelVersionSerializer(self._version(name, version)).data)

    @extend_schema(
        request=AliasSetSerializer,
        responses={
            201: AliasEventSerializer,
            200: OpenApiResponse(description="the alias already pointed at this version"),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=f"{VERSION}/aliases",
        serializer_class=AliasSetSerializer,
    )
    def aliases(self, request, name=None, version=None):
        """Point an alias (default ``production``) at this version; audited."""
        model_version = self._version(name, version)
        form = AliasSetSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            event = services.model_alias_set(
                model_version=model_version, user=request.user, **form.validated_data
            )
        except services.RegistryError as exc:
            raise ValidationError({"alias": str(exc)}) from exc
        if event is None:
            return Response(
                {
                    "detail": f"{form.validated_data['alias']} already points at "
                    f"version {model_version.version}"
                }
            )
        event = selectors.alias_event_list().get(pk=event.pk)
        return Response(AliasEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: OpenApiResponse(description="training run and dataset chain")})
    @action(detail=True, methods=["get"], url_path=f"{VERSION}/lineage")
    def lineage(self, request, name=None, version=None):
        """Where a version came from: its run, and the dataset versions back to the source."""
        return Response(selectors.model_version_lineage(self._version(name, version)))

    @extend_schema(responses=AliasEventSerializer(many=True))
    @action(
        detail=True, methods=["get"], url_path="alias-events", serializer_class=AliasEventSerializer
    )
    def alias_events(self, request, name=None):
        """The audit trail of this model's aliases, newest first."""
        model = self.get_object()
        page = self.paginate_queryset(selectors.alias_event_list().filter(model=model))
        return self.get_paginated_response(AliasEventSerializer(page, many=True).data)
