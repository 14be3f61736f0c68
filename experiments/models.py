from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from hpml_portal.models import NamedEntity


class Experiment(NamedEntity):
    """A named group of training runs, tracked as the MLflow experiment of the same name."""

    mlflow_experiment_id = models.CharField(max_length=64, blank=True)


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "QUEUED"
        RUNNING = "RUNNING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"
        CANCELLED = "CANCELLED"

    TERMINAL = {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED}
    TEAM_PATH = "experiment__team"

    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="runs")
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", on_delete=models.PROTECT, related_name="training_runs"
    )
    architecture = models.CharField(max_length=32)
    hyperparameters = models.JSONField(default=dict, blank=True)
    model_name = models.SlugField(max_length=100, help_text="Registered model to add a version to.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    current_epoch = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]),
                name="training_run_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1),
                name="training_run_progress_range",
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.architecture} on {self.dataset_version_id})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    def finish(self, status: str, *, error: str = "") -> None:
        """Move to a terminal status; refuses to leave one or to go anywhere else."""
        if status not in self.TERMINAL:
            raise ValueError(f"{status} is not a terminal status")
        if self.is_terminal:
            raise ValueError(f"run {self.pk} is already {self.status}")
        self.status = status
        self.error = error
        self.finished_at = timezone.now()
        if status == self.Status.SUCCEEDED:
            self.progress = 1.0
