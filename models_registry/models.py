from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from hpml_portal.models import NamedEntity

# Alias names look like "production" or "staging-eu"; never a bare number, which would read
# as a version.
alias_validator = RegexValidator(
    r"^[a-z][a-z0-9_-]{0,63}\Z",  # \Z: "$" would let a trailing newline through
    "an alias starts with a lowercase letter and holds lowercase letters, digits, - and _",
)


class MirrorState(models.TextChoices):
    """Where the copy of a version or alias in the MLflow registry stands."""

    NONE = "", "not mirrored"  # nothing to copy (a version not logged in MLflow)
    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"


def mirror_state_field():
    return models.CharField(max_length=16, choices=MirrorState.choices, default="", blank=True)


class RegisteredModel(NamedEntity):
    """A named model, versioned by ModelVersion and pointed at by aliases."""

    mlflow_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="Its name in the MLflow registry, whose names are global: team.name.",
    )
    log_sample_rate = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of its prediction requests logged, 0 to 1; empty: "
        "PREDICTION_LOG_SAMPLE_RATE.",
    )


class ModelVersion(models.Model):
    TEAM_PATH = "model__team"

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    run = models.OneToOneField(
        "experiments.TrainingRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="model_version",
    )
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="model_versions",
    )
    architecture = models.CharField(max_length=32, blank=True)
    artifact = models.FileField(max_length=500)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField(default=0)
    signature = models.JSONField(
        default=dict, help_text="input_shape, input_dtype and the class labels of the outputs"
    )
    metrics = models.JSONField(default=dict, blank=True)
    mlflow_version = models.CharField(
        max_length=32, blank=True, help_text="its number in the MLflow registry, once mirrored"
    )
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    mlflow_model_uri = models.CharField(
        max_length=300, blank=True, help_text="the model as logged in its MLflow run"
    )
    mirror_state = mirror_state_field()
    mirror_error = models.TextField(blank=True, help_text="the last failure to mirror it")
    mirror_attempts = models.PositiveIntegerField(default=0)
    integrity_error = models.TextField(
        blank=True,
        help_text="why its stored file could not be served when last loaded (sha256, a file "
        "Keras refuses, a missing object); empty once it loads",
    )
    # An archived version keeps its row and history, holds no alias and is never served.
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model__name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="model_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.version}"


class ModelAlias(models.Model):
    """Where an alias of a model points now. Every change also writes an AliasEvent."""

    TEAM_PATH = "model__team"

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=64, validators=[alias_validator])
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="aliases")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    mirror_state = mirror_state_field()
    mirror_error = models.TextField(blank=True, help_text="the last failure to mirror it")

    class Meta:
        ordering = ["model__name", "alias"]
        verbose_name_plural = "model aliases"
        constraints = [
            models.UniqueConstraint(fields=["model", "alias"], name="model_alias_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.alias}"


class AliasEvent(models.Model):
    """Audit row: who moved which alias, from which version to which, when, and why."""

    TEAM_PATH = "model__team"

    model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="alias_events"
    )
    alias = models.CharField(max_length=64)
    from_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        before = f"v{self.from_version.version}" if self.from_version else "nothing"
        after = f"v{self.to_version.version}" if self.to_version else "nothing"
        return f"{self.model.name}@{self.alias}: {before} -> {after}"
