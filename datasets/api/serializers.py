from django.urls import reverse
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from accounts.api.fields import TeamField
from hpml_portal.api.schema import required
from hpml_portal.api.strict import StrictStrings

from ..models import Dataset, DatasetVersion
from ..sourcing import BUILTIN_DATASETS, IngestSource


class DatasetSerializer(StrictStrings, serializers.ModelSerializer):
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
    progress = serializers.FloatField(
        read_only=True, allow_null=True, help_text="share of the bytes fetched (0 to 1)"
    )
    thumbnails = serializers.SerializerMethodField(help_text="URL of a PNG grid of samples")

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "team",
            "dataset",
            "version",
            "ref",
            "status",
            "progress",
            "bytes_done",
            "bytes_total",
            "format",
            "source_kind",
            "source",
            "file",
            "sha256",
            "size_bytes",
            "label_column",
            "schema",
            "stats",
            "preview",
            "thumbnails",
            "error",
            "duplicate_of",
            "parent",
            "recipe",
            "worker",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_thumbnails(self, version) -> str | None:
        if not version.thumbnails:
            return None
        path = reverse("datasetversion-thumbnails", kwargs={"pk": version.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class DatasetVersionCreateSerializer(StrictStrings, serializers.Serializer):
    """Exactly one source: a multipart ``file``, or JSON ``url``, ``sql`` or ``builtin``."""

    SOURCES = ("file", "url", "sql", "builtin")

    file = serializers.FileField(required=False)
    url = serializers.CharField(
        required=False, max_length=2000, help_text="http(s):// or s3://, its path naming the file"
    )
    sql = serializers.CharField(
        required=False, max_length=100_000, help_text="one SELECT against SQL_SOURCE_URL"
    )
    builtin = serializers.ChoiceField(
        BUILTIN_DATASETS,
        required=False,
        help_text="a data set shipped with the platform",
        error_messages={
            "invalid_choice": f"unknown built-in dataset '{{input}}': the built-in one is "
            f"'{BUILTIN_DATASETS[0]}'"
        },
    )
    label_column = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=100,
        help_text="the label column of a table (.csv, .parquet, a query); default: label",
    )

    def validate(self, attrs):
        given = [key for key in self.SOURCES if attrs.get(key)]
        if len(given) != 1:
            raise serializers.ValidationError(
                "send exactly one of: a multipart 'file', or JSON 'url', 'sql' or 'builtin'"
            )
        return attrs

    def ingest_source(self):
        """The checked source description (raises the service's error when it is refused)."""
        data = self.validated_data
        label = data["label_column"]
        if data.get("builtin"):
            return IngestSource.builtin(data["builtin"])
        if data.get("url"):
            return IngestSource.url(data["url"], label)
        if data.get("sql"):
            return IngestSource.sql(data["sql"], label)
        return IngestSource.upload(data["file"], data["file"].name, label)


def _source_form(name: str, source: str) -> type[serializers.Serializer]:
    """The body of one kind of source (for the schema: the view checks them all at once)."""
    fields = DatasetVersionCreateSerializer().get_fields()
    keep = {source: required(fields[source]), "label_column": fields["label_column"]}
    if source == "builtin":
        keep.pop("label_column")
    return type(name, (serializers.Serializer,), keep)


UploadSource = _source_form("DatasetVersionUpload", "file")
VERSION_SOURCES = PolymorphicProxySerializer(
    component_name="DatasetVersionSource",
    serializers=[
        _source_form("DatasetVersionFromUrl", "url"),
        _source_form("DatasetVersionFromSql", "sql"),
        _source_form("DatasetVersionBuiltin", "builtin"),
    ],
    resource_type_field_name=None,
)


class RecipeSerializer(serializers.Serializer):
    """A processing recipe; at least one of normalize, split, reshape. Checked in full against
    the version's schema by the service."""

    normalize = serializers.ChoiceField(["minmax", "standard"], required=False, allow_null=True)
    split = serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=1),
        min_length=3,
        max_length=3,
        required=False,
        allow_null=True,
        help_text="train, validation and test fractions, summing to 1",
    )
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**32 - 1)
    stratify = serializers.BooleanField(required=False)
    reshape = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=8,
        required=False,
        allow_null=True,
    )

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        unknown[
                            0
                        ]: "unknown recipe step: use normalize, split, seed, stratify, reshape"
                    }
                )
        return super().to_internal_value(data)
