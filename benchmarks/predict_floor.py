"""The "DRF floor": the least a Django + DRF prediction endpoint can cost.

One APIView parses the JSON body with JSONParser and answers a constant: no database, no
authentication, no model. ``benchmarks/predict.py`` serves it with gunicorn, with the
portal's worker settings:

    gunicorn --chdir benchmarks predict_floor:application --workers 2
"""

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-floor-only",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
    MIDDLEWARE=[],
    DATABASES={},
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": [],
        "UNAUTHENTICATED_USER": None,
    },
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 (needs the settings)
from django.urls import path  # noqa: E402
from rest_framework.parsers import JSONParser  # noqa: E402
from rest_framework.renderers import JSONRenderer  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

ANSWER = {"predictions": [0], "probabilities": [[1.0] + [0.0] * 9], "version": 1}


class FloorView(APIView):
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def get(self, request, name: str):
        return Response({"status": "ok"})

    def post(self, request, name: str):
        request.data  # noqa: B018 (parsing the body is the point)
        return Response(ANSWER)


urlpatterns = [path("api/v1/models/<slug:name>/predict/", FloorView.as_view())]
application = get_wsgi_application()
