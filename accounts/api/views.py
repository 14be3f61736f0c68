from rest_framework import mixins, viewsets
from rest_framework.permissions import IsAuthenticated

from hpml_portal.api.pagination import StrictPageNumberPagination
from hpml_portal.api.schema import PerViewApiSchema

from .. import selectors
from .filters import AuditEventFilter
from .permissions import IsSuperuser, TokenScope
from .serializers import AuditEventSerializer, TeamSerializer


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The teams you belong to, with your role in each (staff: every team)."""

    # Any role in a team shows the team itself: its rows are already only the caller's teams.
    permission_classes = [IsAuthenticated, TokenScope]
    schema = PerViewApiSchema()
    pagination_class = StrictPageNumberPagination
    serializer_class = TeamSerializer
    lookup_field = "slug"
    search_fields = ["slug", "name"]
    ordering_fields = ["slug", "created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.team_list(user=None).none()
        return selectors.team_list(user=self.request.user)


class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Sign-ins, tokens, memberships and alias moves, newest first (staff superusers)."""

    serializer_class = AuditEventSerializer
    permission_classes = [IsAuthenticated, TokenScope, IsSuperuser]
    schema = PerViewApiSchema()
    pagination_class = StrictPageNumberPagination
    filterset_class = AuditEventFilter
    search_fields = ["actor_name", "target"]
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return selectors.audit_event_list()
