from django.conf import settings
from django.db import models
from django.db.models import Q

from hpml_portal.jobs import Job, JobStatus, status_constraint, status_field
from hpml_portal.models import NamedEntity


class Dataset(NamedEntity):
    """A named collection of data, versioned by DatasetVersion."""


VERSION_STATUSES = [JobStatus.PENDING, JobStatus.INGESTING, JobStatus.READY, JobStatus.FAILED]


class DatasetVersion(Job):
    """One immutable version of a dataset: a job until READY (ingested or processed by a
    worker), then content that runs train on."""

    WAITING, ACTIVE, SUCCESS = JobStatus.PENDING, JobStatus.INGESTING, JobStatus.READY
    TERMINAL = frozenset({JobStatus.READY, JobStatus.FAILED})
    STATUSES = VERSION_STATUSES
    TASK = "datasets.tasks.ingest"
    TEAM_PATH = "dataset__team"

    class Format(models.TextChoices):
        NPZ = "npz"
        CSV = "csv"
        PARQUET = "parquet"

    class Source(models.TextChoices):
        UPLOAD = "upload"
        URL = "url"
        SQL = "sql"
        BUILTIN = "builtin"
        PROCESS = "process"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    status = status_field(STATUSES, JobStatus.PENDING)
    source_kind = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD)
    source = models.CharField(max_length=500, help_text="Where the content came from.")
    # What the worker needs to fetch the content: a staged upload's key, a URL, a query, a
    # built-in name, or a recipe. Never shown to another team.
    source_spec = models.JSONField(default=dict, blank=True)
    file = models.FileField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(null=True, blank=True)
    format = models.CharField(max_length=16, choices=Format.choices)
    label_column = models.CharField(max_length=100, blank=True)
    schema = models.JSONField(default=dict, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    preview = models.JSONField(default=dict, blank=True)
    thumbnails = models.CharField(max_length=500, blank=True, help_text="storage key of a PNG")
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    recipe = models.JSONField(null=True, blank=True)
    recipe_key = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

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
            # The same recipe on the same parent is one version.
            models.UniqueConstraint(
                fields=["parent", "recipe_key"],
                condition=~Q(status="FAILED") & ~Q(recipe_key=""),
                name="dataset_live_recipe_unique",
            ),
            status_constraint(VERSION_STATUSES, "dataset_version_status_valid"),
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.dataset.name}:{self.version}"

    @property
    def ref(self) -> str:
        return f"{self.dataset.name}:{self.version}"

    @property
    def progress(self) -> float | None:
        """Share of the bytes fetched so far, when the total is known."""
        if self.status == JobStatus.READY:
            return 1.0
        if self.bytes_total:
            return min(self.bytes_done / self.bytes_total, 1.0)
        return None
