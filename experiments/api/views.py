from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from accounts.api.viewsets import NamedCreateMixin, NestedViewSet, TeamScopedViewSet
from datasets.selectors import dataset_version_list
from hpml_portal.api.schema import errors
from hpml_portal.errors import Unavailable
from models_registry.api.serializers import ModelVersionSerializer
from models_registry.models import ModelVersion

from .. import selectors, services, sweeps
from ..models import TrainingRun
from .filters import ExperimentFilter, SweepFilter, TrainingRunFilter
from .serializers import (
    RUN_FORMS,
    SWEEP_FORMS,
    ExperimentSerializer,
    SweepCreateSerializer,
    SweepSerializer,
    TrainingRunCreateSerializer,
    TrainingRunSerializer,
)

RUN_LIMIT = "the team's limit of queued and running runs (TEAM_MAX_ACTIVE_RUNS) is reached"


@extend_schema_view(
    create=extend_schema(
        responses={
            201: ExperimentSerializer,
            **errors({404: "no team of that name among yours"}),
        }
    )
)
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
    # Hyperparameters are a nested object, which a form cannot carry: JSON only.
    parser_classes = [JSONParser]
    serializer_class = TrainingRunSerializer
    filterset_class = TrainingRunFilter
    search_fields = ["model_name", "error"]
    ordering_fields = ["created_at", "status", "finished_at"]

    @extend_schema(
        request=RUN_FORMS,
        responses={
            202: TrainingRunSerializer,
            **errors({409: RUN_LIMIT, 503: "the run could not be queued (broker down)"}),
        },
    )
    def create(self, request, *args, **kwargs):
        experiment = self.get_parent()
        form = TrainingRunCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        run = services.training_run_create(
            experiment_name=experiment.name,
            team=experiment.team,
            dataset_version=_readable_version(request.user, data["dataset_version"]),
            model_name=data["model_name"],
            architecture=data["architecture"],
            hyperparameters=data["hyperparameters"],
            user=request.user,
        )
        run = selectors.training_run_list(user=None).get(pk=run.pk)
        if run.status == TrainingRun.Status.FAILED:  # it could not be queued
            raise Unavailable(run.error)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


def _readable_version(user, pk: int):
    """The dataset version ``pk`` if the caller may read it: another team's reads as missing,
    like any object the caller cannot see."""
    version = dataset_version_list(user=user).filter(pk=pk).first()
    if version is None:
        raise ValidationError({"dataset_version": [f"dataset version {pk} does not exist"]})
    return version


class ExperimentSweepViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, NestedViewSet
):
    """The sweeps of one experiment; POST starts one: a grid or random search whose runs are
    queued for the training workers (202)."""

    selector = staticmethod(selectors.sweep_list)
    parent_selector = staticmethod(selectors.experiment_list)
    parent_kwarg, parent_field = "experiment_pk", "experiment"
    parser_classes = [JSONParser]  # the space is a nested object: JSON only
    serializer_class = SweepSerializer
    filterset_class = SweepFilter
    ordering_fields = ["created_at"]

    @extend_schema(
        request=SWEEP_FORMS,
        responses={
            202: SweepSerializer,
            **errors({409: RUN_LIMIT, 503: "no run of the sweep could be queued (broker down)"}),
        },
    )
    def create(self, request, *args, **kwargs):
        experiment = self.get_parent()
        form = SweepCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        sweep = sweeps.sweep_create(
            experiment_name=experiment.name,
            team=experiment.team,
            dataset_version=_readable_version(request.user, data["dataset_version"]),
            model_name=data["model_name"],
            architecture=data["architecture"],
            space=data["space"],
            random=data["random"],
            seed=data["seed"],
            metric=data["metric"],
            user=request.user,
        )
        sweep = selectors.sweep_list(user=None).get(pk=sweep.pk)
        if sweep.status == TrainingRun.Status.FAILED:  # not one run could be queued
            raise Unavailable(f"sweep {sweep.pk} was not queued: {sweep.runs.all()[0].error}")
        return Response(SweepSerializer(sweep).data, status=status.HTTP_202_ACCEPTED)


class SweepViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Every sweep of your teams, with its runs best first and its best run."""

    selector = staticmethod(selectors.sweep_list)
    serializer_class = SweepSerializer
    filterset_class = SweepFilter
    ordering_fields = ["created_at"]

    @extend_schema(
        request=None,
        responses={200: SweepSerializer, **errors({409: "every run of the sweep has ended"})},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel the sweep: its queued runs end now, its running ones at their next batch
        (409 once every run has ended)."""
        sweep = self.get_object()
        sweeps.sweep_cancel(sweep=sweep, user=request.user)
        return Response(SweepSerializer(selectors.sweep_list(user=None).get(pk=sweep.pk)).data)

    @extend_schema(
        request=None,
        responses={
            200: ModelVersionSerializer,
            201: ModelVersionSerializer,
            **errors({409: "no run of the sweep has succeeded yet"}),
        },
    )
    @action(detail=True, methods=["post"], url_path="register-best")
    def register_best(self, request, pk=None):
        """Register the best run's model as the next version of the sweep's model: 201, or
        200 with the version it already is (409 while no run has succeeded)."""
        version, created = sweeps.sweep_register_best(sweep=self.get_object(), user=request.user)
        return _registered(version, created)


class TrainingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Every training run of your teams."""

    selector = staticmethod(selectors.training_run_list)
    serializer_class = TrainingRunSerializer
    filterset_class = TrainingRunFilter
    search_fields = ["model_name", "error", "experiment__name"]
    ordering_fields = ["created_at", "status", "finished_at"]

    @extend_schema(
        request=None,
        responses={200: TrainingRunSerializer, **errors({409: "the run has ended"})},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a run: a queued one ends now, a running one at its next batch (409 once
        ended)."""
        run = services.training_run_cancel(run=self.get_object(), user=request.user)
        return Response(
            TrainingRunSerializer(selectors.training_run_list(user=None).get(pk=run.pk)).data
        )

    @extend_schema(
        request=None,
        responses={
            202: TrainingRunSerializer,
            **errors(
                {
                    409: "the run is not FAILED or CANCELLED, or the team's run limit is reached",
                    503: "the new run could not be queued (broker down)",
                }
            ),
        },
    )
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

    @extend_schema(
        request=None,
        responses={
            200: ModelVersionSerializer,
            201: ModelVersionSerializer,
            **errors({409: "the run did not succeed, or has no model to register"}),
        },
    )
    @action(detail=True, methods=["post"])
    def register(self, request, pk=None):
        """Register the model of a SUCCEEDED run that did not register one (a sweep's run):
        201 with the new version, 200 with the version it already is (409 for other runs)."""
        version, created = services.training_run_register(run=self.get_object(), user=request.user)
        return _registered(version, created)


def _registered(version, created: bool) -> Response:
    version = ModelVersion.objects.select_related("model__team").get(pk=version.pk)
    return Response(
        ModelVersionSerializer(version).data,
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )
