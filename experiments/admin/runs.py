"""Experiments and training runs."""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from accounts import access
from accounts.access import Capability
from accounts.admin_scoping import TeamListFilter, TeamScopedAdmin
from hpml_portal import charts
from hpml_portal.admin_pages import ObjectPageAdmin
from hpml_portal.admin_utils import admin_link, status_badge
from hpml_portal.errors import ServiceError

from .. import selectors, services
from ..models import Experiment, TrainingRun
from . import common


@admin.register(Experiment)
class ExperimentAdmin(TeamScopedAdmin):
    selector = staticmethod(selectors.experiment_list)
    list_display = ["name", "team", "run_count", "mlflow_experiment_id", "created_at"]
    list_filter = [TeamListFilter]
    search_fields = ["name", "description"]
    fields = ["team", "name", "description", "mlflow_experiment_id", "created_by", "created_at"]
    readonly_fields = ["mlflow_experiment_id", "created_by", "created_at"]

    @admin.display(ordering="run_count", description="runs")
    def run_count(self, obj):
        return obj.run_count

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return ["name", *fields] if obj else fields

    def save_model(self, request, obj, form, change):
        saved = services.experiment_save(
            name=obj.name, team=obj.team, description=obj.description, user=request.user
        )
        obj.pk, obj.created_at, obj.created_by = saved.pk, saved.created_at, saved.created_by


@admin.register(TrainingRun)
class TrainingRunAdmin(ObjectPageAdmin, TeamScopedAdmin):
    selector = staticmethod(selectors.training_run_list)
    read_only = True
    list_display = [
        "id",
        "experiment",
        "dataset_version",
        "architecture",
        "status_badge",
        "progress_bar",
        "test_accuracy",
        "model_version_link",
        "created_by",
        "created_at",
    ]
    list_filter = [
        "status",
        "architecture",
        TeamListFilter,
        ("experiment", admin.RelatedOnlyFieldListFilter),
        ("sweep", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["id", "experiment__name", "model_name", "mlflow_run_id", "error"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "experiment",
                    "dataset_version",
                    "architecture",
                    "model_name",
                    "live_status",
                    "live_progress",
                    "within_epoch",
                    "live_error",
                    "live_model_version",
                ]
            },
        ),
        ("Results", {"fields": ["training_curves", "metric_table", "confusion"]}),
        ("Hyperparameters", {"fields": ["hyperparameter_table"]}),
        (
            "Job",
            {
                "fields": [
                    "backend",
                    "devices",
                    "distribution",
                    "mlflow_link",
                    "worker",
                    "heartbeat_at",
                    "retry_of",
                    "sweep",
                    "register",
                    "cancel_requested",
                    "created_by",
                    "created_at",
                    "started_at",
                    "finished_at",
                ]
            },
        ),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    actions = ["cancel_runs", "retry_runs", "register_runs"]
    object_buttons = (
        ("cancel_runs", "Cancel"),
        ("retry_runs", "Retry"),
        ("register_runs", "Register this run"),
    )
    # While the run trains, its page redraws these in place (hpml/live.js).
    live_parts = (
        "live_status",
        "live_progress",
        "within_epoch",
        "training_curves",
        "metric_table",
        "confusion",
        "live_error",
        "live_model_version",
    )

    def live_done(self, obj) -> bool:
        return obj.status in TrainingRun.TERMINAL

    def button_offered(self, obj, action: str) -> bool:
        Status = TrainingRun.Status
        return {
            "cancel_runs": obj.status not in TrainingRun.TERMINAL,
            "retry_runs": obj.status in (Status.FAILED, Status.CANCELLED),
            "register_runs": obj.status == Status.SUCCEEDED,
        }[action]

    @admin.display(description="status")
    def live_status(self, obj):
        return self.live("live_status", status_badge(obj.status))

    @admin.display(description="progress")
    def live_progress(self, obj):
        return self.live("live_progress", self.progress_bar(obj))

    @admin.display(description="error")
    def live_error(self, obj):
        return self.live("live_error", obj.error or "-")

    @admin.display(description="model version")
    def live_model_version(self, obj):
        return self.live("live_model_version", self.model_version_link(obj))

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status)

    @admin.display(description="progress", ordering="progress")
    def progress_bar(self, obj):
        epochs = obj.hyperparameters.get("epochs", "?")
        return format_html(
            '<progress value="{}" max="1" style="width:6em"></progress> {}/{}',
            f"{obj.progress:.3f}",
            obj.current_epoch,
            epochs,
        )

    @admin.display(description="hyperparameters")
    def hyperparameter_table(self, obj):
        return charts.key_value_table(obj.hyperparameters, caption="as submitted")

    @admin.display(description="metrics")
    def metric_table(self, obj):
        per_class = obj.metrics.get("per_class") or {}
        rows = format_html_join(
            "",
            "<tr><th scope='row'>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    label,
                    *(charts.readable(m.get(k)) for k in ("precision", "recall", "f1")),
                    m.get("support"),
                )
                for label, m in per_class.items()
            ),
        )
        classes = (
            format_html(
                "<table><caption>per class (test split)</caption><thead><tr><th>class</th>"
                "<th>precision</th><th>recall</th><th>f1</th><th>support</th></tr></thead>"
                "<tbody>{}</tbody></table>",
                rows,
            )
            if per_class
            else ""
        )
        summary = charts.metric_summary(obj.metrics, caption="summary")
        return self.live("metric_table", format_html("{}{}", summary, classes))

    @admin.display(description="training curves")
    def training_curves(self, obj):
        history = obj.history or []

        def series(key):
            return [epoch.get(key) for epoch in history]

        return self.live(
            "training_curves",
            format_html(
                "{}{}",
                charts.line_chart(
                    {"loss": series("loss"), "val_loss": series("val_loss")},
                    title="loss by epoch",
                ),
                charts.line_chart(
                    {"accuracy": series("accuracy"), "val_accuracy": series("val_accuracy")},
                    title="accuracy by epoch",
                ),
            ),
        )

    @admin.display(description="confusion matrix")
    def confusion(self, obj):
        matrix = obj.metrics.get("confusion_matrix")
        if not matrix:
            return self.live("confusion", "-")
        labels = list(obj.metrics.get("per_class") or {}) or [str(n) for n in range(len(matrix))]
        return self.live("confusion", charts.heat_table(matrix, labels, caption="test split"))

    @admin.display(description="MLflow run")
    def mlflow_link(self, obj):
        return common.mlflow_link(obj.experiment, obj.mlflow_run_id)

    @admin.display(description="this epoch")
    def within_epoch(self, obj):
        return self.live("within_epoch", self._within_epoch(obj))

    def _within_epoch(self, obj) -> str:
        if obj.status != TrainingRun.Status.RUNNING or not obj.batches_per_epoch:
            return "-"
        pace = f", {obj.samples_per_second:,.0f} samples/s" if obj.samples_per_second else ""
        left = (
            f", about {common.duration(obj.eta_seconds)} left"
            if obj.eta_seconds is not None
            else ""
        )
        return f"batch {obj.batches_done} of {obj.batches_per_epoch}{pace}{left}"

    @admin.display(description="test accuracy")
    def test_accuracy(self, obj):
        value = obj.metrics.get("test_accuracy")
        return f"{value:.4f}" if value is not None else "-"

    @admin.display(description="model version")
    def model_version_link(self, obj):
        return admin_link(getattr(obj, "model_version", None))

    def has_write_permission(self, request):
        return access.can_anywhere(request.user, Capability.WRITE)

    @admin.action(description="Retry the selected FAILED or CANCELLED runs", permissions=["write"])
    def retry_runs(self, request, queryset):
        retried = []
        for run in queryset.select_related("experiment__team", "dataset_version__dataset"):
            try:
                new = services.training_run_retry(run=run, user=request.user)
            except ServiceError as exc:
                self.message_user(request, f"Run {run.pk}: {exc}", messages.ERROR)
                continue
            new.refresh_from_db()
            if new.status == TrainingRun.Status.FAILED:  # the broker refused it
                self.message_user(request, f"Run {new.pk}: {new.error}", messages.ERROR)
            else:
                retried.append(new)
        if retried:
            made = ", ".join(f"{new.pk} (retrying {new.retry_of_id})" for new in retried)
            self.message_user(request, f"Queued run(s) {made}.")

    @admin.action(description="Cancel the selected runs", permissions=["write"])
    def cancel_runs(self, request, queryset):
        cancelled = 0
        for run in queryset.exclude(status__in=TrainingRun.TERMINAL):
            try:
                services.training_run_cancel(run=run, user=request.user)
            except ServiceError as exc:  # e.g. it ended since the page was read
                self.message_user(request, f"Run {run.pk}: {exc}", messages.WARNING)
            else:
                cancelled += 1
        self.message_user(request, f"Asked {cancelled} run(s) to cancel.")

    @admin.action(
        description="Register the models of the selected SUCCEEDED runs", permissions=["write"]
    )
    def register_runs(self, request, queryset):
        for run in queryset:
            try:
                version, created = services.training_run_register(run=run, user=request.user)
            except ServiceError as exc:
                self.message_user(request, f"Run {run.pk}: {exc}", messages.ERROR)
            else:
                common.report_registered(self, request, version, created)
