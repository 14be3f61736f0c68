from rest_framework import serializers


class PredictRequestSerializer(serializers.Serializer):
    """Rows to score; send ``instances`` or ``inputs`` (the same thing)."""

    instances = serializers.ListField(
        child=serializers.ListField(),
        required=False,
        help_text="one row per instance: the model's input shape, nested or flat",
    )
    inputs = serializers.ListField(child=serializers.ListField(), required=False)


class PredictResponseSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    predictions = serializers.ListField(help_text="the predicted class of each instance")
    probabilities = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()),
        help_text="per instance, the probability of each class in signature order",
    )
