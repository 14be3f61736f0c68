"""Query parameters the API understands, and a refusal for the ones it does not.

Without this, a misspelt or unsupported filter (``?stauts=FAILED``) is ignored and the answer
lists everything, which looks like an answer to the question asked.
"""

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend

from .limits import MAX_ID

# Understood by every list and detail view: paging, format, search, ordering, and the team that
# disambiguates a name two of the caller's teams use.
COMMON = {"page", "format", "search", "ordering", "team"}


class KnownParameters(BaseFilterBackend):
    """400 for a query parameter the view does not understand, naming the ones it does."""

    def filter_queryset(self, request, queryset, view):
        known = COMMON | set(getattr(view, "extra_query_parameters", ()))
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None:
            known |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise ValidationError(
                {
                    "detail": f"unknown query parameter(s): {', '.join(unknown)}; "
                    f"this endpoint understands {', '.join(sorted(known))}"
                }
            )
        _refuse_empty(request, filterset_class)
        return queryset


def _refuse_empty(request, filterset_class) -> None:
    """An id, a status or a date given empty (``?status=``) names none: django-filter would
    ignore it and list everything. Text filters (``?name=``) may be empty."""
    if filterset_class is None:
        return
    for name, filter_ in filterset_class.base_filters.items():
        if isinstance(filter_, django_filters.CharFilter):
            continue
        if "" in request.query_params.getlist(name):
            raise ValidationError({"detail": f"{name} is empty: give a value, or leave it out"})


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An object by its id: a whole number from 1 (400 otherwise, never a number the database
    cannot compare)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)
