"""JSON bodies keep their types: DRF's text fields take ``5`` for ``"5"``, which the schema
says is not text. Forms are text throughout, and are left as DRF reads them."""

from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.utils import html


class StrictStrings:
    """Serializer mixin: a JSON value for a text field (or a list of text) must be a string
    (DRF's own words for a list or an object there)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and not html.is_html_input(data):
            for name, field in self.fields.items():
                if not field.read_only and name in data and not _is_text(field, data[name]):
                    raise serializers.ValidationError({name: ["Not a valid string."]})
        return super().to_internal_value(data)


def _is_text(field, value) -> bool:
    if value is None:
        return True  # the field's own check says whether null is allowed
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        return all(_is_text(field.child, item) for item in value)
    if isinstance(field, serializers.CharField):
        return isinstance(value, str)
    return True
