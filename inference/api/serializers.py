from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from hpml_portal.api.schema import required
from hpml_portal.api.strict import StrictStrings

from ..models import PredictionFeedback


class DataframeSplitSerializer(StrictStrings, serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    data = serializers.ListField(child=serializers.ListField())


class PredictRequestSerializer(serializers.Serializer):
    """Rows to score, in one of four formats (those of MLflow's scoring server): ``instances``
    or ``inputs`` (the same thing), ``dataframe_split`` or ``dataframe_records`` (columns
    named as the training data's features, in any order)."""

    instances = serializers.ListField(
        child=serializers.ListField(),
        required=False,
        help_text="one row per instance: the model's input shape, nested or flat",
    )
    inputs = serializers.ListField(child=serializers.ListField(), required=False)
    dataframe_split = DataframeSplitSerializer(required=False)
    dataframe_records = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="one {column: value} per row"
    )


def predict_request(name: str) -> PolymorphicProxySerializer:
    """The request's schema: exactly one of the four formats (``params`` is taken too, and
    ignored)."""
    fields = PredictRequestSerializer().get_fields()
    forms = []
    for key in ("instances", "inputs", "dataframe_split", "dataframe_records"):
        form = {key: required(fields[key]), "params": serializers.DictField(required=False)}
        forms.append(type(f"{name}{key.title().replace('_', '')}", (serializers.Serializer,), form))
    return PolymorphicProxySerializer(
        component_name=name, serializers=forms, resource_type_field_name=None
    )


class PredictResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        required=False, help_text="the prediction log's id, when this request was logged"
    )
    model = serializers.CharField()
    version = serializers.IntegerField()
    predictions = serializers.ListField(help_text="the predicted class of each instance")
    probabilities = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()),
        help_text="per instance, the probability of each class in signature order",
    )


class PredictDescriptionSerializer(serializers.Serializer):
    model = serializers.CharField()
    team = serializers.CharField()
    alias = serializers.CharField(allow_null=True, help_text="null when a version was named")
    version = serializers.IntegerField(help_text="the version a POST would use")
    signature = serializers.DictField(help_text="input_shape, input_dtype, classes, feature_names")
    example = PredictRequestSerializer(help_text="a body ready to send")


class InvocationsResponseSerializer(serializers.Serializer):
    predictions = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()),
        help_text="per row, the probability of each class in signature order",
    )


@extend_schema_field(
    {
        "type": "array",
        "items": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        "minItems": 1,
    }
)
class _LabelsField(serializers.JSONField):
    """Checked against the prediction by the service (one per instance, each a class)."""


class FeedbackRequestSerializer(serializers.Serializer):
    labels = _LabelsField(help_text="the true label of each instance, in order: its classes")


class FeedbackSerializer(serializers.ModelSerializer):
    class Meta:
        model = PredictionFeedback
        fields = ["prediction", "labels", "correct", "total", "created_at"]
        read_only_fields = fields
