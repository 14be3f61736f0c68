"""Request checks that every view would otherwise have to repeat."""

from django.http import JsonResponse


class RefuseNulCharacters:
    """400 for a NUL character in the path or query string.

    PostgreSQL cannot hold NUL in text, so a lookup, filter or search that carried one would
    fail deep in the database (a 500). Bodies are checked by their serializers and forms.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            return JsonResponse(
                {"detail": "the URL holds a NUL character, which no name or value may hold"},
                status=400,
            )
        return self.get_response(request)
