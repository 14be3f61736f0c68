from rest_framework import serializers

from accounts.api.fields import TeamField

from ..models import Experiment, TrainingRun
from ..training.hyperparameters import ARCHITECTURES


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
    model_name = serializers.SlugField(help_text="registered model that gets the new version")
