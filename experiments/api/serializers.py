from datetime import datetime

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from accounts.api.fields import TeamField
from hpml_portal.api.schema import MAX_ID
from hpml_portal.api.strict import StrictStrings

from ..models import Experiment, Sweep, TrainingRun
from ..selectors import sweep_best_run, sweep_ranked_runs
from ..training.hyperparameters import ARCHITECTURES
from ..training.sweep_space import DEFAULT_METRIC, METRICS
from .hyperparameters import check_types, hyperparameters_schema, space_schema


class ExperimentSerializer(StrictStrings, serializers.ModelSerializer):
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
    created_by = serializers.StringRelatedField(
        allow_null=True, help_text="who made it; null when a command did, or the user is gone"
    )

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


def _dataset_version_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="id of a READY dataset version of your team"
    )


def _architecture_field(*choices: str) -> serializers.ChoiceField:
    known = ", ".join(sorted(choices))
    return serializers.ChoiceField(
        sorted(choices),
        default="mlp",
        help_text="what to train (default mlp)",
        error_messages={"invalid_choice": f"unknown architecture '{{input}}': use one of {known}"},
    )


class TrainingRunCreateSerializer(StrictStrings, serializers.Serializer):
    """What POST .../runs/ takes; its schema is one variant per architecture (``RUN_FORMS``)."""

    dataset_version = _dataset_version_field()
    architecture = _architecture_field(*ARCHITECTURES)
    hyperparameters = serializers.DictField(
        required=False, default=dict, help_text="name: value; defaults fill the rest"
    )
    model_name = serializers.SlugField(
        max_length=100, help_text="registered model that gets the new version"
    )

    def validate(self, attrs):
        check_types(attrs["architecture"], attrs["hyperparameters"], "hyperparameters")
        return attrs


def _variant(base: type, architecture: str, field: str, schema: dict) -> type:
    """``base`` for one architecture: its name fixed (needed unless it is mlp, the default),
    ``field`` shown with that architecture's schema."""
    fields = base().get_fields()
    # Wrapped: the three variants' one-word enums would collide as "ArchitectureEnum".
    named = extend_schema_field({"allOf": [{"type": "string", "enum": [architecture]}]})(
        type("ArchitectureField", (serializers.CharField,), {})
    )
    fields["architecture"] = named(required=architecture != "mlp", help_text="what to train")
    annotated = extend_schema_field(schema)(
        type(f"{field.title()}Field", (serializers.DictField,), {})
    )
    fields[field] = annotated(required=field == "space", help_text=schema["description"])
    name = f"{base.__name__.removesuffix('Serializer')}{architecture.title()}"
    return type(name, (serializers.Serializer,), fields)


RUN_FORMS = PolymorphicProxySerializer(
    component_name="TrainingRunCreate",
    serializers=[
        _variant(TrainingRunCreateSerializer, arch, "hyperparameters", hyperparameters_schema(arch))
        for arch in sorted(ARCHITECTURES)
    ],
    resource_type_field_name=None,
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
    created_by = serializers.StringRelatedField(
        allow_null=True, help_text="who made it; null when a command did, or the user is gone"
    )

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


METRIC_NAMES = ", ".join(sorted(METRICS))


@extend_schema_field({"type": "integer", "minimum": 1, "nullable": True})
class _RandomField(serializers.JSONField):
    """Checked by the service, which takes a whole number only (not "5", not 5.0)."""


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "nullable": True})
class _SeedField(serializers.JSONField):
    pass


class SweepCreateSerializer(StrictStrings, serializers.Serializer):
    """What POST .../sweeps/ takes; its schema is one variant per architecture
    (``SWEEP_FORMS``)."""

    dataset_version = _dataset_version_field()
    architecture = _architecture_field(*ARCHITECTURES)
    model_name = serializers.SlugField(
        max_length=100, help_text="registered model the best run goes into"
    )
    space = serializers.DictField(
        help_text="hyperparameter: [values] (crossed) or a single value, e.g. "
        '{"learning_rate": [0.001, 0.01], "hidden_units": [64, 128]}'
    )
    random = _RandomField(
        required=False,
        allow_null=True,
        default=None,
        help_text="draw this many distinct points of the grid; null: run the whole grid",
    )
    seed = _SeedField(
        required=False,
        allow_null=True,
        default=None,
        help_text="seed of the random draw (with random only)",
    )
    metric = serializers.ChoiceField(
        sorted(METRICS),
        default=DEFAULT_METRIC,
        help_text="ranks the runs",
        error_messages={
            "invalid_choice": f"unknown sweep metric '{{input}}': use one of {METRIC_NAMES}"
        },
    )

    def validate(self, attrs):
        check_types(attrs["architecture"], attrs["space"], "space", lists=True)
        return attrs


SWEEP_FORMS = PolymorphicProxySerializer(
    component_name="SweepCreate",
    serializers=[
        _variant(SweepCreateSerializer, arch, "space", space_schema(arch))
        for arch in sorted(ARCHITECTURES)
    ],
    resource_type_field_name=None,
)
