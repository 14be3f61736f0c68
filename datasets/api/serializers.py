from rest_framework import serializers

from accounts.api.fields import TeamField

from ..models import Dataset, DatasetVersion


class DatasetSerializer(serializers.ModelSerializer):
    team = TeamField()
    version_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Dataset
        fields = ["id", "team", "name", "description", "version_count", "created_at"]
        read_only_fields = ["id", "created_at"]
        # Names are unique per team, checked by the service once the team is known.
        validators = []


class DatasetVersionSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="dataset.team.slug", read_only=True)
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True)
    ref = serializers.CharField(read_only=True)
    file = serializers.CharField(source="file.name", read_only=True, help_text="storage key")

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "team",
            "dataset",
            "version",
            "ref",
            "status",
            "format",
            "source",
            "file",
            "sha256",
            "size_bytes",
            "label_column",
            "schema",
            "stats",
            "error",
            "parent",
            "recipe",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class DatasetVersionCreateSerializer(serializers.Serializer):
    """Exactly one of: a multipart ``file``, or JSON ``{"builtin": "digits"}``."""

    file = serializers.FileField(required=False)
    builtin = serializers.CharField(required=False)
    url = serializers.CharField(required=False)
    label_column = serializers.CharField(required=False, default="", allow_blank=True)

    def validate(self, attrs):
        given = [key for key in ("file", "builtin", "url") if attrs.get(key)]
        if len(given) != 1:
            raise serializers.ValidationError(
                "send exactly one of: a multipart 'file', or JSON 'builtin'"
            )
        if given == ["url"]:
            raise serializers.ValidationError(
                {"url": "ingestion from a URL is not available yet: upload the file instead"}
            )
        return attrs
