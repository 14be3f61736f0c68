"""What every team-scoped API view shares: querysets from the selectors, scoped to the caller;
nested resources whose parent is looked up (and checked) the same way as any object."""

from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.generics import get_object_or_404  # a malformed id is a 404, not a 500

from hpml_portal.api.pagination import StrictPageNumberPagination
from hpml_portal.api.schema import PerViewApiSchema
from hpml_portal.errors import Conflict
from hpml_portal.models import team_of

from .. import access, selectors
from ..access import Capability
from .permissions import required_capability


class TeamScopedViewSet(viewsets.GenericViewSet):
    """``selector(user=..., capability=...)`` gives the rows.

    A list shows what the caller may read. One object is looked up among everything the
    caller's teams hold, so another team's object answers 404 and a missing role 403 (the
    TeamRole permission, through ``get_object()``).
    """

    schema = PerViewApiSchema()
    pagination_class = StrictPageNumberPagination
    # staticmethod(callable(user=..., capability=...) -> QuerySet)
    selector = None

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI schema has no caller
            return self.selector(user=None, capability=None).none()
        capability = None if self.detail else Capability.READ
        return self.selector(user=self.request.user, capability=capability)

    def team_for_create(self, slug: str | None):
        """The team a new object goes to (``"team"`` in the body when the caller has several)."""
        return selectors.team_for_create(user=self.request.user, slug=slug)


class NamedCreateMixin:
    """POST makes a named object of a team through
    ``create_service(name=..., description=..., team=..., user=...)``; with ``unique_names``,
    a name the team already uses is a 409."""

    create_service = None  # staticmethod
    unique_names = False

    def perform_create(self, serializer):
        data = serializer.validated_data
        team = self.team_for_create(data.get("team"))
        existing = self.selector(user=None).filter(team=team, name=data["name"])
        if self.unique_names and existing.exists():
            noun = existing.model._meta.verbose_name
            raise Conflict(f"team {team.slug!r} already has a {noun} named {data['name']!r}")
        made = self.create_service(
            name=data["name"],
            description=data.get("description", ""),
            team=team,
            user=self.request.user,
        )
        serializer.instance = self.selector(user=None).get(pk=made.pk)


class NestedViewSet(TeamScopedViewSet):
    """A resource under a parent (``/datasets/{dataset_pk}/versions/``): the parent is found
    among the caller's teams' objects (404 otherwise), then must allow the action (403)."""

    parent_selector = None  # staticmethod(callable(user=..., capability=...)): the parents
    parent_kwarg = ""  # the URL keyword naming the parent's primary key
    parent_field = ""  # the field of this resource that points at the parent

    def get_parent(self):
        if not hasattr(self, "_parent"):
            parents = self.parent_selector(user=self.request.user, capability=None)
            parent = get_object_or_404(parents, pk=self.kwargs[self.parent_kwarg])
            access.require(self.request.user, team_of(parent), self.parent_capability())
            self._parent = parent
        return self._parent

    def parent_capability(self) -> Capability:
        if self.action in ("list", "retrieve") or self.request.method in ("GET", "HEAD"):
            return Capability.READ
        return required_capability(self.request, self)

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return queryset
        return queryset.filter(**{self.parent_field: self.get_parent()})
