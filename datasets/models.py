from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from hpml_portal.models import NamedEntity


class Dataset(NamedEntity):
    """A named collection of data, versioned by DatasetVersion."""


class DatasetVersion(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        READY = "READY"
        FAILED = "FAILED"

    class Format(models.TextChoices):
        NPZ = "npz"
        CSV = "csv"
        PARQUET = "parquet"

    TERMINAL = {Status.READY, Status.FAILED}
    TEAM_PATH = "dataset__team"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    file = models.FileField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    format = models.CharField(max_length=16, choices=Format.choices)
    source = models.CharField(max_length=500, help_text="Where the content came from.")
    label_column = models.CharField(max_length=100, blank=True)
    schema = models.JSONField(default=dict, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    recipe = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset__name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "version"], name="dataset_version_unique"),
            # Same content in the same dataset is one version (a failed one does not count).
            models.UniqueConstraint(
                fields=["dataset", "sha256"],
                condition=~Q(status="FAILED") & ~Q(sha256=""),
                name="dataset_live_content_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["PENDING", "READY", "FAILED"]),
                name="dataset_version_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.dataset.name}:{self.version}"

    @property
    def ref(self) -> str:
        return f"{self.dataset.name}:{self.version}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    def finish(self, status: str, *, error: str = "") -> None:
        """Move to a terminal status; refuses to leave one or to go anywhere else."""
        if status not in self.TERMINAL:
            raise ValueError(f"{status} is not a terminal status")
        if self.is_terminal:
            raise ValueError(f"{self} is already {self.status}")
        self.status = status
        self.error = error
        self.finished_at = timezone.now()
