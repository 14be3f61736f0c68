from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiToken
from accounts.throttles import PredictThrottle
from hpml_portal.api.schema import MAX_VERSION, PerViewApiSchema, errors

from .. import logbook, selectors, services
from .renderers import PredictFormRenderer
from .serializers import (
    FeedbackRequestSerializer,
    FeedbackSerializer,
    InvocationsResponseSerializer,
    PredictDescriptionSerializer,
    PredictResponseSerializer,
    predict_request,
)


def _error(code: int, message: str) -> Response:
    return Response({"detail": message}, status=code)


_PARAMETERS = [
    OpenApiParameter(
        "version",
        {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
        description="a version number",
    ),
    OpenApiParameter("alias", str, description="an alias (default, or empty: production)"),
    OpenApiParameter("team", str, description="when several of your teams have the model"),
]
_ERRORS = errors(
    {
        400: "names the bad instance or column and what was expected",
        403: "the token may not predict with this model",
        404: "unknown model or version",
        409: "the alias points nowhere, or the version is archived",
        413: "body or batch over the limit",
        429: "over THROTTLE_PREDICT_RATE",
        503: "the model cannot be served (its file fails its check, or storage is down)",
    }
)


class _Scoring(APIView):
    """Every POST is counted (``ServingCount``) with the status it was answered, refusals by
    authentication, throttling or validation included."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer, PredictFormRenderer]
    throttle_classes = [PredictThrottle]
    allows_predict_only_tokens = True
    schema = PerViewApiSchema()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "POST":
            served = getattr(request, "_hpml_served", None) or logbook.Served(kwargs["name"])
            logbook.writer.count(served, response.status_code)
        return response

    def _version_param(self, request) -> int | None | Response:
        version = request.query_params.get("version")
        if version is None:
            return None
        # isdecimal, not isdigit: int() refuses digits such as "²" that isdigit accepts.
        if not version.isdecimal():
            return _error(400, f"version must be a whole number, got {version!r}")
        if len(version) > 100:  # past any version, and int() reads no more than 4,300 digits
            return _error(404, f"model {self.kwargs['name']!r} has no version {version[:20]}...")
        return int(version)

    @extend_schema(
        parameters=_PARAMETERS,
        responses={200: PredictDescriptionSerializer, **_ERRORS},
    )
    def get(self, request, name: str):
        """The model and version a POST here would use, its input signature and a body
        ready to send (the browsable API's form starts with it)."""
        version = self._version_param(request)
        if isinstance(version, Response):
            return version
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(
            services.prediction_describe(
                model_name=name,
                version=version,
                alias=request.query_params.get("alias"),
                team=request.query_params.get("team"),
                user=request.user,
                token=token,
            )
        )

    def score(self, request, name: str) -> services.Prediction | Response:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.PREDICT_MAX_BODY_BYTES:
            return _error(
                413, f"the body is over the limit of {settings.PREDICT_MAX_BODY_BYTES} bytes"
            )
        version = self._version_param(request)
        if isinstance(version, Response):
            return version
        token = request.auth if isinstance(request.auth, ApiToken) else None
        request._hpml_served = logbook.Served(name)
        return services.prediction_create(
            model_name=name,
            payload=request.data,
            version=version,
            alias=request.query_params.get("alias"),
            team=request.query_params.get("team"),
            user=request.user,
            token=token,
            served=request._hpml_served,
        )


class PredictView(_Scoring):
    """Predict with a registered model: its ``production`` version unless told otherwise."""

    @extend_schema(
        operation_id="models_predict",
        request=predict_request("PredictRequest"),
        examples=[
            OpenApiExample(
                "two rows",
                value={"instances": [[0.0, 1.5, 3.0, 0.5], [2.0, 0.0, 1.0, 4.0]]},
                request_only=True,
                description="rows of the model's input size (GET here gives one that fits)",
            )
        ],
        parameters=_PARAMETERS,
        responses={200: PredictResponseSerializer, **_ERRORS},
    )
    def post(self, request, name: str):
        prediction = self.score(request, name)
        if isinstance(prediction, Response):
            return prediction
        return Response(prediction.answer(), status=status.HTTP_200_OK)


class InvocationsView(_Scoring):
    """MLflow's scoring protocol: what ``mlflow models serve`` answers at ``/invocations``
    (``{"predictions": [[class probabilities], ...]}``), for the same requests."""

    @extend_schema(
        operation_id="models_invocations",
        request=predict_request("InvocationsRequest"),
        parameters=_PARAMETERS,
        responses={200: InvocationsResponseSerializer, **_ERRORS},
    )
    def post(self, request, name: str):
        prediction = self.score(request, name)
        if isinstance(prediction, Response):
            return prediction
        return Response({"predictions": prediction.probabilities}, status=status.HTTP_200_OK)


class FeedbackView(APIView):
    """The true labels of a logged prediction (its answer's ``id``): one per instance, given
    once, by whoever may predict with the model."""

    parser_classes = [JSONParser]
    allows_predict_only_tokens = True
    schema = PerViewApiSchema()

    @extend_schema(
        operation_id="predictions_feedback",
        request=FeedbackRequestSerializer,
        responses={
            201: FeedbackSerializer,
            **errors(
                {
                    400: "wrong number of labels, or an unknown label",
                    404: "no such prediction among yours",
                    409: "the prediction already has feedback",
                }
            ),
        },
    )
    def post(self, request, pk: int):
        form = FeedbackRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        logbook.writer.flush()  # this process's predictions not written yet (none: no query)
        logs = selectors.prediction_log_list(user=request.user, capability=None)
        prediction = logs.select_related("model_version__model__team").filter(pk=pk).first()
        if prediction is None:
            return _error(404, f"there is no prediction {pk}")
        feedback = services.feedback_record(
            prediction=prediction,
            labels=form.validated_data["labels"],
            user=request.user,
            token=request.auth if isinstance(request.auth, ApiToken) else None,
        )
        return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)
