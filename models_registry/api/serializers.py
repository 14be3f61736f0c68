from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hpml_portal.api.strict import StrictStrings

from ..models import AliasEvent, ModelVersion, RegisteredModel, alias_validator


class RegisteredModelSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug", read_only=True)
    version_count = serializers.IntegerField(read_only=True)
    latest_version = serializers.IntegerField(read_only=True, allow_null=True)
    aliases = serializers.SerializerMethodField(help_text="alias: version number")

    class Meta:
        model = RegisteredModel
        fields = [
            "team",
            "name",
            "description",
            "version_count",
            "latest_version",
            "aliases",
            "log_sample_rate",
            "mlflow_name",
            "created_at",
        ]
        read_only_fields = fields

    def get_aliases(self, model) -> dict[str, int]:
        return {a.alias: a.version.version for a in model.aliases.all()}


class ModelVersionSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="model.team.slug", read_only=True)
    model = serializers.SlugRelatedField(slug_field="name", read_only=True)
    artifact = serializers.CharField(
        source="artifact.name", read_only=True, help_text="storage key"
    )
    aliases = serializers.SerializerMethodField()
    archived_by = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = ModelVersion
        fields = [
            "team",
            "model",
            "version",
            "aliases",
            "run",
            "dataset_version",
            "architecture",
            "artifact",
            "sha256",
            "size_bytes",
            "signature",
            "metrics",
            "mlflow_version",
            "mlflow_run_id",
            "mirror_state",
            "mirror_error",
            "mirror_attempts",
            "integrity_error",
            "archived_at",
            "archived_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_aliases(self, version) -> list[str]:
        return sorted(a.alias for a in version.aliases.all())


class CommentSerializer(StrictStrings, serializers.Serializer):
    comment = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=2000, help_text="why"
    )


# models.alias_validator's rule, for the schema ("$" here ends the text, as its \Z does).
ALIAS_SCHEMA = {"type": "string", "pattern": r"^[a-z][a-z0-9_-]{0,63}$", "maxLength": 64}


@extend_schema_field({**ALIAS_SCHEMA, "default": "production"})
class AliasField(serializers.CharField):
    pass


class AliasSetSerializer(StrictStrings, serializers.Serializer):
    alias = AliasField(
        max_length=64,
        default="production",
        help_text="a lowercase letter, then up to 63 lowercase letters, digits, - and _",
    )
    comment = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=2000, help_text="why"
    )

    def validate_alias(self, value: str) -> str:
        try:
            alias_validator(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                f"invalid alias {value!r}: {exc.messages[0]}"
            ) from exc
        return value


class AliasEventSerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="name", read_only=True)
    from_version = serializers.SerializerMethodField()
    to_version = serializers.SerializerMethodField()
    user = serializers.StringRelatedField(
        allow_null=True, help_text="who moved it; null when a command did, or the user is gone"
    )

    class Meta:
        model = AliasEvent
        fields = [
            "id",
            "model",
            "alias",
            "from_version",
            "to_version",
            "user",
            "comment",
            "created_at",
        ]
        read_only_fields = fields

    def get_from_version(self, event) -> int | None:
        return event.from_version.version if event.from_version else None

    def get_to_version(self, event) -> int | None:
        return event.to_version.version if event.to_version else None
