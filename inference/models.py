from django.conf import settings
from django.db import models


class PredictionLog(models.Model):
    """A sampled record of one prediction request (PREDICTION_LOG_SAMPLE_RATE)."""

    TEAM_PATH = "model_version__model__team"

    class Outcome(models.TextChoices):
        OK = "ok"
        REJECTED = "rejected"

    model_version = models.ForeignKey(
        "models_registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="prediction_logs",
    )
    model_name = models.CharField(max_length=100)
    requested = models.CharField(max_length=100, help_text="alias:NAME or version:N")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    instances = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField(null=True, blank=True)
    inputs_sample = models.JSONField(default=list, blank=True)
    predictions_sample = models.JSONField(default=list, blank=True)
    # Every predicted label of a logged success, for feedback to be scored against.
    predictions = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model_name", "created_at"])]

    def __str__(self) -> str:
        return f"{self.model_name} {self.requested} {self.outcome}"


class PredictionFeedback(models.Model):
    """The true labels of a logged prediction, given once, and how many it got right."""

    TEAM_PATH = "prediction__model_version__model__team"

    prediction = models.OneToOneField(
        PredictionLog, on_delete=models.CASCADE, related_name="feedback"
    )
    labels = models.JSONField()
    correct = models.PositiveIntegerField()
    total = models.PositiveIntegerField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"feedback on prediction {self.prediction_id}: {self.correct}/{self.total}"


class ServingCount(models.Model):
    """Requests to the scoring endpoints per minute, model version and answer status: every
    request, logged or not, answered or refused. ``version`` 0: the request was refused before
    a version was chosen (an unset alias, a missing role); ``team_key`` 0 too: before a model
    was found (an unknown name, a bad token). Written in bulk by each web process."""

    TEAM_PATH = "team_key"

    minute = models.DateTimeField()
    team_key = models.BigIntegerField(default=0, help_text="the model's team id; 0: none found")
    model_name = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=0)
    status = models.PositiveSmallIntegerField(help_text="the HTTP status answered")
    requests = models.PositiveBigIntegerField(default=0)
    instances = models.PositiveBigIntegerField(default=0)
    logs_dropped = models.PositiveBigIntegerField(
        default=0, help_text="sampled requests whose log was dropped: the buffer was full"
    )

    class Meta:
        ordering = ["-minute", "model_name", "version", "status"]
        constraints = [
            models.UniqueConstraint(
                fields=["minute", "team_key", "model_name", "version", "status"],
                name="inference_servingcount_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.version} {self.status} at {self.minute:%H:%M}"
