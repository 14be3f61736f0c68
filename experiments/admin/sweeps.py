"""Sweeps: the list, and a sweep's page comparing its runs best first."""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from accounts import access
from accounts.access import Capability
from accounts.admin_scoping import TeamListFilter, TeamScopedAdmin
from hpml_portal import charts
from hpml_portal.admin_pages import ObjectPageAdmin
from hpml_portal.admin_utils import admin_link, status_badge
from hpml_portal.errors import ServiceError

from .. import selectors, sweeps
from ..models import Sweep
from ..training.sweep_space import METRICS
from . import common

EPOCH_METRICS = {"loss", "accuracy", "val_loss", "val_accuracy"}  # in each epoch's history
CURVES_SHOWN = 8


@admin.register(Sweep)
class SweepAdmin(ObjectPageAdmin, TeamScopedAdmin):
    """Sweeps; a sweep's page compares its runs, best first."""

    selector = staticmethod(selectors.sweep_list)
    read_only = True
    list_display = [
        "id",
        "experiment",
        "dataset_version",
        "architecture",
        "status_badge",
        "runs_progress",
        "best",
        "model_name",
        "created_by",
        "created_at",
    ]
    list_filter = [TeamListFilter, "architecture", ("experiment", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["id", "experiment__name", "model_name"]
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
                    "live_runs",
                    "live_best",
                ]
            },
        ),
        ("Runs", {"fields": ["live_comparison", "live_curves"]}),
        (
            "Search",
            {
                "fields": [
                    "metric",
                    "space_table",
                    "random",
                    "seed",
                    "cancel_requested",
                    "mlflow_link",
                ]
            },
        ),
        ("Job", {"fields": ["created_by", "created_at"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    actions = ["cancel_sweeps", "register_best"]
    object_buttons = (("register_best", "Register the best run"), ("cancel_sweeps", "Cancel"))
    # While the sweep runs, its page redraws these in place (hpml/live.js).
    live_parts = ("live_status", "live_runs", "live_best", "live_comparison", "live_curves")

    def live_done(self, obj) -> bool:
        return obj.runs_done >= obj.runs_total

    def button_offered(self, obj, action: str) -> bool:
        return obj.runs_done < obj.runs_total if action == "cancel_sweeps" else True

    @admin.display(description="status")
    def live_status(self, obj):
        return self.live("live_status", self.status_badge(obj))

    @admin.display(description="runs done")
    def live_runs(self, obj):
        return self.live("live_runs", self.runs_progress(obj))

    @admin.display(description="best run")
    def live_best(self, obj):
        return self.live("live_best", self.best(obj))

    @admin.display(description="runs, best first")
    def live_comparison(self, obj):
        return self.live("live_comparison", self.comparison(obj))

    @admin.display(description="curves")
    def live_curves(self, obj):
        return self.live("live_curves", self.curves(obj))

    @admin.display(description="space")
    def space_table(self, obj):
        return charts.key_value_table(obj.space, caption="values tried")

    @admin.display(description="status")
    def status_badge(self, obj):
        return status_badge(obj.status)

    @admin.display(description="runs done")
    def runs_progress(self, obj):
        return format_html(
            '<progress value="{}" max="{}" style="width:6em"></progress> {}/{}',
            obj.runs_done,
            obj.runs_total,
            obj.runs_done,
            obj.runs_total,
        )

    @admin.display(description="best run")
    def best(self, obj):
        best = selectors.sweep_best_run(sweep=obj)
        if best is None:
            return "-"
        return format_html(
            "{} ({} {})",
            admin_link(best, f"run {best.pk}"),
            obj.metric,
            common.number(best.metrics[obj.metric]),
        )

    @admin.display(description="runs, best first")
    def comparison(self, obj):
        ranked = selectors.sweep_ranked_runs(sweep=obj)
        swept = sorted(obj.space)
        shown = [m for m in METRICS if any(m in run.metrics for run in ranked)]
        head = format_html_join(
            "",
            "<th>{}</th>",
            ((name,) for name in ["run", "status", *swept, *shown, "model version"]),
        )
        rows = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (
                    format_html_join(
                        "",
                        "<td>{}</td>",
                        (
                            (cell,)
                            for cell in [
                                admin_link(run, str(run.pk)),
                                status_badge(run.status),
                                *(run.hyperparameters.get(name, "-") for name in swept),
                                *(common.number(run.metrics.get(m)) for m in shown),
                                admin_link(getattr(run, "model_version", None)),
                            ]
                        ),
                    ),
                )
                for run in ranked
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)

    @admin.display(description="curves")
    def curves(self, obj):
        """The sweep's metric by epoch for its best runs (validation loss when the metric is
        a test metric, which has no epochs)."""
        key = obj.metric if obj.metric in EPOCH_METRICS else "val_loss"
        ranked = selectors.sweep_ranked_runs(sweep=obj)[:CURVES_SHOWN]
        series = {f"run {run.pk}": [e.get(key) for e in run.history or []] for run in ranked}
        return charts.line_chart(series, title=f"{key} by epoch, best run first")

    @admin.display(description="MLflow run")
    def mlflow_link(self, obj):
        return common.mlflow_link(obj.experiment, obj.mlflow_run_id)

    def has_write_permission(self, request):
        return access.can_anywhere(request.user, Capability.WRITE)

    @admin.action(description="Cancel the selected sweeps", permissions=["write"])
    def cancel_sweeps(self, request, queryset):
        for sweep in queryset:
            try:
                stopping = sweeps.sweep_cancel(sweep=sweep, user=request.user)
            except ServiceError as exc:  # e.g. it ended since the page was read
                self.message_user(request, f"Sweep {sweep.pk}: {exc}", messages.WARNING)
            else:
                self.message_user(request, f"Sweep {sweep.pk}: asked {stopping} run(s) to stop.")

    @admin.action(description="Register the best run of the selected sweeps", permissions=["write"])
    def register_best(self, request, queryset):
        for sweep in queryset:
            try:
                version, created = sweeps.sweep_register_best(sweep=sweep, user=request.user)
            except ServiceError as exc:
                self.message_user(request, f"Sweep {sweep.pk}: {exc}", messages.ERROR)
            else:
                common.report_registered(self, request, version, created)
