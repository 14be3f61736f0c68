from django.conf import settings
from django.db import models
from django.db.models import Q

from hpml_portal.jobs import Job, JobStatus, status_constraint, status_field
from hpml_portal.models import NamedEntity


class Experiment(NamedEntity):
    """A named group of training runs, tracked as the MLflow experiment of the same name."""

    mlflow_experiment_id = models.CharField(max_length=64, blank=True)


RUN_STATUSES = [
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
]


class Sweep(models.Model):
    """A hyperparameter search: runs of one architecture on one dataset version, each with a
    point of ``space``, ranked by ``metric``. Its status and progress come from its runs
    (``selectors.sweep_list`` computes them), so they can never disagree with them."""

    TEAM_PATH = "experiment__team"

    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="sweeps")
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", on_delete=models.PROTECT, related_name="sweeps"
    )
    architecture = models.CharField(max_length=32)
    model_name = models.SlugField(
        max_length=100, help_text="Registered model that the best run is registered into."
    )
    space = models.JSONField(help_text="hyperparameter: values to try (lists are crossed)")
    random = models.PositiveIntegerField(
        null=True, blank=True, help_text="runs drawn from the grid; empty: the whole grid"
    )
    seed = models.PositiveIntegerField(
        null=True, blank=True, help_text="seed of the random draw (a grid has none)"
    )
    metric = models.CharField(max_length=32, default="val_accuracy")
    cancel_requested = models.BooleanField(default=False)
    mlflow_run_id = models.CharField(max_length=64, blank=True, help_text="the parent run")
    mlflow_closed = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"sweep {self.pk}: {self.experiment.name} on {self.dataset_version.ref}"


class TrainingRun(Job):
    WAITING, ACTIVE, SUCCESS = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED
    TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
    STATUSES = RUN_STATUSES
    TASK = "experiments.tasks.train_run"
    TEAM_PATH = "experiment__team"

    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="runs")
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", on_delete=models.PROTECT, related_name="training_runs"
    )
    architecture = models.CharField(max_length=32)
    hyperparameters = models.JSONField(default=dict, blank=True)
    model_name = models.SlugField(max_length=100, help_text="Registered model to add a version to.")
    status = status_field(STATUSES, JobStatus.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    current_epoch = models.PositiveIntegerField(default=0)
    # Within the epoch under way, written at most about once a second.
    batches_done = models.PositiveIntegerField(default=0, help_text="in the current epoch")
    batches_per_epoch = models.PositiveIntegerField(default=0)
    samples_per_second = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True, help_text="until training ends")
    # Where it trained.
    backend = models.CharField(max_length=32, blank=True, help_text="Keras backend")
    devices = models.JSONField(default=list, blank=True)
    distribution = models.CharField(max_length=64, blank=True)
    sweep = models.ForeignKey(
        Sweep, null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    # The stored model of a run that succeeded without registering: what registering it
    # later needs (name, sha256, size_bytes, signature, mlflow_model_uri).
    artifact = models.JSONField(default=dict, blank=True)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    cancel_requested = models.BooleanField(default=False)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            status_constraint(RUN_STATUSES, "training_run_status_valid"),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1),
                name="training_run_progress_range",
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"run {self.pk}: {self.experiment.name} on {self.dataset_version.ref}"

    @property
    def register(self) -> bool:
        """Whether it registers a model version when it succeeds: a sweep's run does not (the
        sweep's best is registered by choice)."""
        return self.sweep_id is None
