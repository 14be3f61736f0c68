"""Pages of the API's lists: ``?page=N`` from 1, refused when it is not one.

DRF's paginator reads an empty ``?page=`` as page 1 and answers "Invalid page." (404) for
``?page=abc`` and for a page past the end alike. Here a ``page`` that is not a whole number
from 1 is a 400 that says so, and one past the last page is a 404.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

from .limits import MAX_ID


class StrictPageNumberPagination(PageNumberPagination):
    last_page_strings = ()  # "last" is not a page number
    # Raised only for a page past the last one: get_page_number refuses the rest.
    invalid_page_message = "page {page_number} is past the last page"

    def get_page_number(self, request, paginator) -> int:
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not (raw.isascii() and raw.isdecimal() and len(raw) < 20) or not 1 <= int(raw) <= MAX_ID:
            raise ValidationError({"detail": f"page must be a whole number from 1, got {raw!r}"})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
                parameter["description"] = "a page number from 1 (400 otherwise; 404 past the last)"
        return parameters
