from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from datasets.models import DatasetVersion

from .. import selectors, services
from ..models import TrainingRun
from .serializers import ExperimentSerializer, TrainingRunCreateSerializer, TrainingRunSerializer


class ExperimentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = selectors.experiment_list()
    serializer_class = ExperimentSerializer

    def perform_create(self, serializer):
        try:
            experiment = services.experiment_get_or_create(
                user=self.request.user, **serializer.validated_data
            )
        except services.TrainingError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        serializer.instance = selectors.experiment_list().get(pk=experiment.pk)

    @extend_schema(methods=["GET"], responses=TrainingRunSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request=TrainingRunCreateSerializer,
        responses={
            202: TrainingRunSerializer,
            503: OpenApiResponse(description="the run could not be queued (broker down)"),
        },
    )
    @action(detail=True, methods=["get", "post"], serializer_class=TrainingRunSerializer)
    def runs(self, request, pk=None):
        """List an experiment's runs, or start one (queued for a training worker: 202)."""
        experiment = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(
                selectors.training_run_list().filter(experiment=experiment)
            )
            return self.get_paginated_response(TrainingRunSerializer(page, many=True).data)
        form = TrainingRunCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        dataset_version = DatasetVersion.objects.filter(pk=data["dataset_version"]).first()
        if dataset_version is None:
            raise ValidationError(
                {"dataset_version": f"dataset version {data['dataset_version']} does not exist"}
            )
        try:
            run = services.training_run_create(
                experiment_name=experiment.name,
                dataset_version=dataset_version,
                model_name=data["model_name"],
                architecture=data["architecture"],
                hyperparameters=data["hyperparameters"],
                user=request.user,
            )
        except services.TrainingError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        run = selectors.training_run_list().get(pk=run.pk)
        if run.status == TrainingRun.Status.FAILED:  # it could not be queued
            return Response({"detail": run.error}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.training_run_list()
    serializer_class = TrainingRunSerializer

    @extend_schema(request=None, responses=TrainingRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a run: a queued one ends now, a running one at its next batch."""
        try:
            run = services.training_run_cancel(run=self.get_object())
        except services.TrainingError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(TrainingRunSerializer(selectors.training_run_list().get(pk=run.pk)).data)
