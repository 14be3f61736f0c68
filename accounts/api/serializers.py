from rest_framework import serializers

from .. import access
from ..models import AuditEvent, Team


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="your role in the team (null: staff)")

    class Meta:
        model = Team
        fields = ["slug", "name", "role", "created_at"]
        read_only_fields = fields

    def get_role(self, team) -> str | None:
        return access.roles(self.context["request"].user).get(team.pk)


class AuditEventSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "action", "actor_name", "team", "target", "detail", "ip", "created_at"]
        read_only_fields = fields
