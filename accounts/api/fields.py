from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hpml_portal.api.schema import SLUG_PATTERN
from hpml_portal.validation import check_name

TEAM_SLUG_SCHEMA = {"type": "string", "pattern": SLUG_PATTERN, "maxLength": 50}


@extend_schema_field(TEAM_SLUG_SCHEMA)
class TeamField(serializers.Field):
    """A team by slug: shown on every team-owned object; on create, the team it goes to
    (needed only when the caller may create in several)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            "the owning team's slug; on create, needed only when you are in several teams",
        )
        super().__init__(**kwargs)

    def get_value(self, dictionary):
        # A form's empty field is "not given" to DRF; an empty team is no team's slug.
        return dictionary.get(self.field_name, serializers.empty)

    def to_representation(self, team) -> str:
        return team.slug

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str) or not data:
            raise serializers.ValidationError("give the team's slug")
        check_name("team", data, serializers.ValidationError, max_length=50)
        return data
