from datetime import datetime

from rest_framework import serializers

from accounts.api.fields import TeamField

from ..models import Experiment, Sweep, TrainingRun
from ..selectors import sweep_best_run, sweep_ranked_runs
from ..training.hyperparameters import ARCHITECTURES
from ..training.sweep_space import DEFAULT_METRIC, METRICS


class ExperimentSerializer(serializers.ModelSerializer):
    team = TeamField()
    run_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Experiment
        fields = [
            "id",
            "team",
            "name",
            "description",
            "mlflow_experiment_id",
            "run_count",
            "created_at",
        ]
        read_only_fields = ["id", "mlflow_experiment_id", "created_at"]
        validators = []  # names are unique per team, checked once the team is known


class TrainingRunSerializer(serializers.ModelSerializer):
    register = serializers.BooleanField(
        read_only=True, help_text="registers a model version when it succeeds (not a sweep's)"
    )
    team = serializers.CharField(source="experiment.team.slug", read_only=True)
    experiment = serializers.SlugRelatedField(slug_field="name", read_only=True)
    dataset = serializers.CharField(source="dataset_version.ref", read_only=True)
    model_version = serializers.SerializerMethodField()
    created_by = serializers.StringRelatedField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "team",
            "experiment",
            "dataset_version",
            "dataset",
            "architecture",
            "hyperparameters",
            "model_name",
            "model_version",
            "status",
            "progress",
            "current_epoch",
            "batches_done",
            "batches_per_epoch",
            "samples_per_second",
            "eta_seconds",
            "backend",
            "devices",
            "distribution",
            "retry_of",
            "sweep",
            "register",
            "cancel_requested",
            "heartbeat_at",
            "worker",
            "mlflow_run_id",
            "metrics",
            "history",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_model_version(self, run) -> int | None:
        version = getattr(run, "model_version", None)
        return version.version if version is not None else None


class TrainingRunCreateSerializer(serializers.Serializer):
    dataset_version = serializers.IntegerField(help_text="id of a READY dataset version")
    architecture = serializers.CharField(
        default="mlp", help_text=f"one of: {', '.join(sorted(ARCHITECTURES))}"
    )
    hyperparameters = serializers.DictField(
        required=False, default=dict, help_text="name: value; defaults fill the rest"
    )
    model_name = serializers.SlugField(
        max_length=100, help_text="registered model that gets the new version"
    )


class SweepRunSerializer(serializers.ModelSerializer):
    """A run as a sweep's comparison shows it: its point of the space and its numbers."""

    model_version = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "status",
            "progress",
            "hyperparameters",
            "metrics",
            "model_version",
            "error",
            "finished_at",
        ]
        read_only_fields = fields

    def get_model_version(self, run) -> int | None:
        version = getattr(run, "model_version", None)
        return version.version if version is not None else None

    def get_metrics(self, run) -> dict:
        """The numbers that rank and judge a run (per-class figures are on the run)."""
        return {k: v for k, v in run.metrics.items() if k in METRICS or k == "best_epoch"}


class SweepSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="experiment.team.slug", read_only=True)
    experiment = serializers.SlugRelatedField(slug_field="name", read_only=True)
    dataset = serializers.CharField(source="dataset_version.ref", read_only=True)
    status = serializers.CharField(read_only=True)
    runs_total = serializers.IntegerField(read_only=True)
    runs_done = serializers.IntegerField(read_only=True)
    goal = serializers.SerializerMethodField(help_text="max or min: which end of metric wins")
    best_run = serializers.SerializerMethodField()
    runs = serializers.SerializerMethodField(help_text="best first by the sweep's metric")
    finished_at = serializers.SerializerMethodField()
    created_by = serializers.StringRelatedField()

    class Meta:
        model = Sweep
        fields = [
            "id",
            "team",
            "experiment",
            "dataset_version",
            "dataset",
            "architecture",
            "model_name",
            "space",
            "random",
            "seed",
            "metric",
            "goal",
            "status",
            "runs_total",
            "runs_done",
            "cancel_requested",
            "best_run",
            "runs",
            "mlflow_run_id",
            "created_by",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def _ranked(self, sweep) -> list[TrainingRun]:
        if not hasattr(sweep, "_ranked"):
            sweep._ranked = sweep_ranked_runs(sweep=sweep)
        return sweep._ranked

    def get_goal(self, sweep) -> str:
        return METRICS.get(sweep.metric, "max")

    def get_best_run(self, sweep) -> dict | None:
        best = sweep_best_run(sweep=sweep, runs=self._ranked(sweep))
        if best is None:
            return None
        version = getattr(best, "model_version", None)
        return {
            "id": best.pk,
            "value": best.metrics[sweep.metric],
            "hyperparameters": best.hyperparameters,
            "model_version": version.version if version is not None else None,
        }

    def get_runs(self, sweep) -> list[dict]:
        return SweepRunSerializer(self._ranked(sweep), many=True).data

    def get_finished_at(self, sweep) -> datetime | None:
        if sweep.status not in TrainingRun.TERMINAL:
            return None
        return serializers.DateTimeField().to_representation(sweep.last_finished_at)


class SweepCreateSerializer(serializers.Serializer):
    dataset_version = serializers.IntegerField(help_text="id of a READY dataset version")
    architecture = serializers.CharField(
        default="mlp", help_text=f"one of: {', '.join(sorted(ARCHITECTURES))}"
    )
    model_name = serializers.SlugField(
        max_length=100, help_text="registered model the best run goes into"
    )
    space = serializers.JSONField(
        help_text="hyperparameter: [values] (crossed) or a single value, e.g. "
        '{"learning_rate": [0.001, 0.01], "hidden_units": [64, 128]}'
    )
    random = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text="draw this many distinct points of the grid; null: run the whole grid",
    )
    seed = serializers.JSONField(
        required=False, allow_null=True, default=None, help_text="seed of the random draw"
    )
    metric = serializers.CharField(
        default=DEFAULT_METRIC,
        help_text=f"ranks the runs; one of: {', '.join(sorted(METRICS))}",
    )
