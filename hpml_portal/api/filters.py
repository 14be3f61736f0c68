"""Query parameters the API understands, and a refusal for the ones it does not.

Without this, a misspelt or unsupported filter (``?stauts=FAILED``) is ignored and the answer
lists everything, which looks like an answer to the question asked.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend

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
        return queryset
