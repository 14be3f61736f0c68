from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.api.viewsets import NamedCreateMixin, NestedViewSet, TeamScopedViewSet
from datasets.selectors import dataset_version_list
from hpml_portal.errors import Unavailable

from .. import selectors, services
from ..models import TrainingRun
from .filters import ExperimentFilter, TrainingRunFilter
from .serializers import ExperimentSerializer, TrainingRunCreateSerializer, TrainingRunSerializer


class ExperimentViewSet(
    NamedCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    TeamScopedViewSet,
):
    """Experiments of your teams; POST makes one (or answers the existing one of that name)."""

    selector = staticmethod(selectors.experiment_list)
    create_service = staticmethod(services.experiment_get_or_create)
    serializer_class = ExperimentSerializer
    filterset_class = ExperimentFilter
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at", "run_count"]


class ExperimentRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, NestedViewSet
):
    """The runs of one experiment; POST starts one (queued for a training worker: 202)."""

    selector = staticmethod(selectors.training_run_list)
    parent_selector = staticmethod(selectors.experiment_list)
    parent_kwarg, parent_field = "experiment_pk", "experiment"
    serializer_class = TrainingRunSerializer
    filterset_class = TrainingRunFilter
    search_fields = ["model_name", "error"]
    ordering_fields = ["created_at", "status", "finished_at"]

    @extend_schema(
        request=TrainingRunCreateSerializer,
        responses={
            202: TrainingRunSerializer,
            503: OpenApiResponse(description="the run could not be queued (broker down)"),
        },
    )
    def create(self, request, *args, **kwargs):
        experiment = self.get_parent()
        form = TrainingRunCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        # Another team's version reads as missing, like any object the caller cannot see.
        dataset_version = (
            dataset_version_list(user=request.user).filter(pk=data["dataset_version"]).first()
        )
        if dataset_version is None:
            raise ValidationError(
                {"dataset_version": [f"dataset version {data['dataset_version']} does not exist"]}
            )
        run = services.training_run_create(
            experiment_name=experiment.name,
            team=experiment.team,
            dataset_version=dataset_version,
            model_name=data["model_name"],
            architecture=data["architecture"],
            hyperparameters=data["hyperparameters"],
            user=request.user,
        )
        run = selectors.training_run_list(user=None).get(pk=run.pk)
        if run.status == TrainingRun.Status.FAILED:  # it could not be queued
            raise Unavailable(run.error)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Every training run of your teams."""

    selector = staticmethod(selectors.training_run_list)
    serializer_class = TrainingRunSerializer
    filterset_class = TrainingRunFilter
    search_fields = ["model_name", "error", "experiment__name"]
    ordering_fields = ["created_at", "status", "finished_at"]

    @extend_schema(request=None, responses=TrainingRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a run: a queued one ends now, a running one at its next batch (409 once
        ended)."""
        run = services.training_run_cancel(run=self.get_object(), user=request.user)
        return Response(
            TrainingRunSerializer(selectors.training_run_list(user=None).get(pk=run.pk)).data
        )

    @extend_schema(request=None, responses={202: TrainingRunSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Queue a new run with the inputs of a FAILED or CANCELLED one (409 otherwise); the
        new run's ``retry_of`` names the first."""
        run = services.training_run_retry(run=self.get_object(), user=request.user)
        run.refresh_from_db()
        if run.status == TrainingRun.Status.FAILED:  # it could not be queued
            raise Unavailable(f"run {run.pk} was not queued: {run.error}")
        return Response(
            TrainingRunSerializer(selectors.training_run_list(user=None).get(pk=run.pk)).data,
            status=status.HTTP_202_ACCEPTED,
        )
