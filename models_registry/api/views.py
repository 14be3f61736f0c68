"""The registry's API. A model is addressed by name; when two of the caller's teams have a
model of that name, ``?team=SLUG`` says which (400 until it does)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from accounts import access
from accounts.access import Capability
from accounts.api.viewsets import NestedViewSet, TeamScopedViewSet
from hpml_portal.api.schema import MAX_VERSION, ErrorSerializer, errors

from .. import selectors, services
from .filters import AliasEventFilter, ModelVersionFilter, RegisteredModelFilter
from .serializers import (
    ALIAS_SCHEMA,
    AliasEventSerializer,
    AliasSetSerializer,
    CommentSerializer,
    ModelVersionSerializer,
    RegisteredModelSerializer,
)

# A plain string: a name that is no team of yours finds no model (404); empty is not given.
TEAM_PARAMETER = OpenApiParameter(
    "team", str, description="the team's slug, when several of yours have this model name"
)


def version_number(text: str, model) -> int:
    """The version number in a URL (digits, by its pattern); one past any column's range
    names no version (404), as any missing one does."""
    if len(text) > 10 or int(text) > MAX_VERSION:
        raise selectors.ModelNotFound(f"model {model.name!r} has no version {text}")
    return int(text)


def _model_named(request, name: str):
    """The caller's model called ``name`` (``?team=`` when several of their teams have one)."""
    return selectors.registered_model_get(
        user=request.user, name=name, team=request.query_params.get("team")
    )


@extend_schema_view(retrieve=extend_schema(parameters=[TEAM_PARAMETER]))
class RegisteredModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Registered models of your teams, addressed by name."""

    selector = staticmethod(selectors.registered_model_list)
    serializer_class = RegisteredModelSerializer
    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    filterset_class = RegisteredModelFilter
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at", "version_count"]

    def get_object(self):
        queryset = self.filter_queryset(self.get_queryset())
        obj = get_object_or_404(queryset, pk=_model_named(self.request, self.kwargs["name"]).pk)
        self.check_object_permissions(self.request, obj)
        return obj


class _UnderModel(NestedViewSet):
    """Resources under ``/models/{name}/``: the model is found by name among the caller's
    teams (``?team=`` when several have it)."""

    parent_kwarg, parent_field = "model_name", "model"

    def get_model(self):
        if not hasattr(self, "_model"):
            self._model = _model_named(self.request, self.kwargs[self.parent_kwarg])
        return self._model

    def get_parent(self):
        model = self.get_model()
        access.require(self.request.user, model.team, self.parent_capability())
        return model


@extend_schema_view(
    list=extend_schema(parameters=[TEAM_PARAMETER]),
    retrieve=extend_schema(parameters=[TEAM_PARAMETER]),
)
class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _UnderModel):
    """The versions of one model, newest first."""

    selector = staticmethod(selectors.model_version_list)
    serializer_class = ModelVersionSerializer
    # archive and restore take a JSON comment, or no body: a form's empty parts would read as
    # "no comment" whatever was sent.
    parser_classes = [JSONParser]
    lookup_field = "version"
    lookup_value_regex = r"[0-9]+"
    filterset_class = ModelVersionFilter
    ordering_fields = ["version", "created_at"]

    def get_object(self):
        model = self.get_parent()
        number = version_number(self.kwargs["version"], model)
        found = self.filter_queryset(self.get_queryset()).filter(version=number).first()
        if found is None:
            raise selectors.ModelNotFound(f"model {model.name!r} has no version {number}")
        self.check_object_permissions(self.request, found)
        return found

    @extend_schema(
        parameters=[TEAM_PARAMETER],
        responses={200: OpenApiResponse(description="training run and dataset chain")},
    )
    @action(detail=True, methods=["get"])
    def lineage(self, request, **kwargs):
        """Where a version came from: its run, and the dataset versions back to the source."""
        return Response(selectors.model_version_lineage(self.get_object()))

    @extend_schema(
        parameters=[
            TEAM_PARAMETER,
            OpenApiParameter(
                "versions",
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
                    "minItems": 2,
                    "maxItems": selectors.MAX_COMPARED,
                    "uniqueItems": True,
                },
                required=True,
                style="form",
                explode=False,
                description=f"2 to {selectors.MAX_COMPARED} distinct version numbers, "
                "comma-separated: 2,1",
            ),
        ],
        responses={
            200: OpenApiResponse(description="metrics and hyperparameters side by side"),
            **errors({404: "no such model among yours, or it has no version of a number asked"}),
        },
    )
    @action(detail=False, methods=["get"])
    def compare(self, request, **kwargs):
        """Versions side by side, in the order asked: their metrics, hyperparameters,
        architecture, data and aliases."""
        model = self.get_parent()
        wanted = _version_numbers(request.query_params.get("versions", ""))
        found = {v.version: v for v in self.get_queryset().filter(version__in=wanted)}
        missing = [n for n in wanted if n not in found]
        if missing:
            raise selectors.ModelNotFound(
                f"model {model.name!r} has no version {', '.join(map(str, missing))}"
            )
        return Response(selectors.model_version_compare([found[n] for n in wanted]))

    @extend_schema(
        parameters=[TEAM_PARAMETER],
        responses={200: OpenApiResponse(description="requests, latency and live accuracy")},
    )
    @action(detail=True, methods=["get"])
    def stats(self, request, **kwargs):
        """How the version served over the last hour and day: every request by the status it
        was answered, instances, latency percentiles of the logged requests, and the accuracy of
        the predictions given feedback."""
        from inference.selectors import model_version_stats

        return Response(model_version_stats(self.get_object()))

    @extend_schema(
        parameters=[TEAM_PARAMETER],
        request=CommentSerializer,
        responses={200: ModelVersionSerializer, **errors({409: "an alias points at the version"})},
    )
    @action(detail=True, methods=["post"])
    def archive(self, request, **kwargs):
        """Archive the version: kept with its history, never served, takes no alias (409
        while an alias points at it). Archiving an archived version changes nothing."""
        return self._archived(request, services.model_version_archive)

    @extend_schema(parameters=[TEAM_PARAMETER], request=CommentSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, **kwargs):
        """Bring an archived version back: it may be served and take aliases again."""
        return self._archived(request, services.model_version_restore)

    def _archived(self, request, service) -> Response:
        form = CommentSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        version = service(
            model_version=self.get_object(),
            user=request.user,
            comment=form.validated_data["comment"],
        )
        found = selectors.model_version_list(user=None).get(pk=version.pk)
        return Response(ModelVersionSerializer(found).data)


@extend_schema_view(list=extend_schema(parameters=[TEAM_PARAMETER]))
class AliasEventViewSet(mixins.ListModelMixin, _UnderModel):
    """The audit trail of one model's aliases, newest first."""

    selector = staticmethod(selectors.alias_event_list)
    serializer_class = AliasEventSerializer
    filterset_class = AliasEventFilter
    ordering_fields = ["created_at"]


class ModelVersionAliasViewSet(mixins.CreateModelMixin, _UnderModel):
    """Point an alias at this version. ``production`` needs the approver role, any other
    alias the scientist role."""

    selector = staticmethod(selectors.alias_event_list)
    serializer_class = AliasSetSerializer
    parser_classes = [JSONParser]  # a form whose parts are unreadable would set production
    alias = selectors.DEFAULT_ALIAS  # the one asked for, once the body is checked

    def parent_capability(self) -> Capability:
        if self.alias == selectors.DEFAULT_ALIAS:
            return Capability.PROMOTE
        return Capability.WRITE

    def get_parent(self):
        model = super().get_parent()
        number = version_number(self.kwargs["version_version"], model)
        return selectors.model_version_get(model, number)

    @extend_schema(
        parameters=[TEAM_PARAMETER],
        request=AliasSetSerializer,
        responses={
            201: AliasEventSerializer,
            200: OpenApiResponse(
                ErrorSerializer, description="the alias already pointed at this version"
            ),
            **errors({409: "the version is archived: it takes no alias"}),
        },
    )
    def create(self, request, *args, **kwargs):
        self.get_model()  # another team's model answers 404 before the body is read
        form = AliasSetSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        self.alias = form.validated_data["alias"]
        model_version = self.get_parent()
        event = services.model_alias_set(
            model_version=model_version, user=request.user, **form.validated_data
        )
        if event is None:
            alias = form.validated_data["alias"]
            return Response(
                {"detail": f"{alias} already points at version {model_version.version}"}
            )
        event = selectors.alias_event_list(user=None).get(pk=event.pk)
        return Response(AliasEventSerializer(event).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    destroy=extend_schema(
        parameters=[
            TEAM_PARAMETER,
            OpenApiParameter(
                "alias", {**ALIAS_SCHEMA}, OpenApiParameter.PATH, description="the alias"
            ),
            OpenApiParameter(
                "comment", {"type": "string", "maxLength": 2000}, description="why (audited)"
            ),
        ],
        responses={
            200: AliasEventSerializer,
            **errors({404: "no such model among yours, or the model has no such alias"}),
        },
    )
)
class ModelAliasViewSet(mixins.DestroyModelMixin, _UnderModel):
    """Take an alias off its model: requests for it answer 409 until it is set again.
    ``production`` needs the approver role, any other alias the scientist role. Answers the
    audit row (``to_version`` null)."""

    selector = staticmethod(selectors.alias_event_list)
    serializer_class = AliasEventSerializer
    lookup_field = "alias"
    lookup_value_regex = r"[a-z][a-z0-9_-]{0,63}"
    extra_query_parameters = ("comment",)

    def parent_capability(self) -> Capability:
        if self.kwargs.get("alias") == selectors.DEFAULT_ALIAS:
            return Capability.PROMOTE
        return Capability.WRITE

    def destroy(self, request, *args, **kwargs):
        model = self.get_parent()  # another team's model: 404; a role that may not: 403
        self.filter_queryset(self.get_queryset())  # a query parameter not understood: 400
        form = CommentSerializer(data={"comment": request.query_params.get("comment", "")})
        form.is_valid(raise_exception=True)
        alias = self.kwargs["alias"]
        event = services.model_alias_delete(
            model=model, alias=alias, user=request.user, comment=form.validated_data["comment"]
        )
        if event is None:
            raise NotFound(f"model {model.name!r} has no alias {alias!r}")
        event = selectors.alias_event_list(user=None).get(pk=event.pk)
        return Response(AliasEventSerializer(event).data)


def _version_numbers(text: str) -> list[int]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isascii() and part.isdecimal() and len(part) <= 10 for part in parts):
        raise ValidationError({"versions": ["give version numbers, comma-separated: 1,2"]})
    numbers = [int(part) for part in parts]
    if not all(1 <= number <= MAX_VERSION for number in numbers):
        raise ValidationError({"versions": [f"version numbers run from 1 to {MAX_VERSION}"]})
    if len(set(numbers)) != len(numbers) or not 2 <= len(numbers) <= selectors.MAX_COMPARED:
        raise ValidationError(
            {"versions": [f"compare 2 to {selectors.MAX_COMPARED} distinct versions"]}
        )
    return numbers
