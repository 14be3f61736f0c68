from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html

from accounts import access
from accounts.access import Capability
from accounts.admin_scoping import TeamListFilter, TeamScopedAdmin
from datasets.admin import DatasetVersionAdmin
from datasets.models import DatasetVersion
from hpml_portal.admin_utils import admin_link, status_badge
from hpml_portal.errors import ServiceError

from . import selectors, services
from .forms import TrainForm
from .models import Experiment, TrainingRun


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
class TrainingRunAdmin(TeamScopedAdmin):
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
    ]
    search_fields = ["id", "experiment__name", "model_name", "mlflow_run_id", "error"]
    readonly_fields = [
        "experiment",
        "dataset_version",
        "architecture",
        "hyperparameters",
        "model_name",
        "status",
        "progress",
        "current_epoch",
        "within_epoch",
        "backend",
        "devices",
        "distribution",
        "retry_of",
        "cancel_requested",
        "heartbeat_at",
        "worker",
        "mlflow_link",
        "metrics",
        "history",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    actions = ["cancel_runs", "retry_runs"]

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

    @admin.display(description="MLflow run")
    def mlflow_link(self, obj):
        if not obj.mlflow_run_id:
            return "-"
        if not settings.MLFLOW_UI_URL:  # no UI to send people to: the id, to look it up
            return obj.mlflow_run_id
        url = (
            f"{settings.MLFLOW_UI_URL.rstrip('/')}/#/experiments/"
            f"{obj.experiment.mlflow_experiment_id}/runs/{obj.mlflow_run_id}"
        )
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>', url, obj.mlflow_run_id
        )

    @admin.display(description="this epoch")
    def within_epoch(self, obj):
        if obj.status != TrainingRun.Status.RUNNING or not obj.batches_per_epoch:
            return "-"
        pace = f", {obj.samples_per_second:,.0f} samples/s" if obj.samples_per_second else ""
        left = f", about {_duration(obj.eta_seconds)} left" if obj.eta_seconds is not None else ""
        return f"batch {obj.batches_done} of {obj.batches_per_epoch}{pace}{left}"

    @admin.display(description="test accuracy")
    def test_accuracy(self, obj):
        value = obj.metrics.get("test_accuracy")
        return f"{value:.4f}" if value is not None else "-"

    @admin.display(description="model version")
    def model_version_link(self, obj):
        return admin_link(getattr(obj, "model_version", None))

    def has_cancel_permission(self, request):
        return access.can_anywhere(request.user, Capability.WRITE)

    @admin.action(description="Retry the selected FAILED or CANCELLED runs", permissions=["cancel"])
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

    @admin.action(description="Cancel the selected runs", permissions=["cancel"])
    def cancel_runs(self, request, queryset):
        cancelled = 0
        for run in queryset.exclude(status__in=TrainingRun.TERMINAL):
            try:
                services.training_run_cancel(run=run, user=request.user)
            except ServiceError as exc:
                self.message_user(request, f"Run {run.pk}: {exc}", messages.ERROR)
            else:
                cancelled += 1
        self.message_user(request, f"Asked {cancelled} run(s) to cancel.")


class DatasetVersionTrainingAdmin(DatasetVersionAdmin):
    """Dataset versions with a "Train a model" action.

    The datasets app may not import this one, so the action is added here, by registering
    the datasets app's admin again with it.
    """

    actions = [*DatasetVersionAdmin.actions, "train_model"]

    def has_train_permission(self, request):
        return access.can_anywhere(request.user, Capability.WRITE)

    @admin.action(description="Train a model on this version", permissions=["train"])
    def train_model(self, request, queryset):
        versions = list(queryset.select_related("dataset"))
        initial = {"architecture": "mlp"}
        if versions:
            name = versions[0].dataset.name
            initial.update(experiment=name, model_name=name)
        form = TrainForm(request.POST if "apply" in request.POST else None, initial=initial)
        if form.is_valid():
            self._start_runs(request, versions, form.cleaned_data)
            return None  # back to the list
        context = {
            **self.admin_site.each_context(request),
            "title": "Train a model",
            "opts": self.model._meta,
            "versions": versions,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/datasets/datasetversion/train.html", context)

    def _start_runs(self, request, versions, data) -> None:
        for version in versions:
            try:
                run = services.training_run_create(
                    experiment_name=data["experiment"],
                    dataset_version=version,
                    model_name=data["model_name"],
                    architecture=data["architecture"],
                    hyperparameters=data["hyperparameters"],
                    user=request.user,
                )
            except ServiceError as exc:
                self.message_user(request, f"{version.ref}: {exc}", messages.ERROR)
            else:
                run.refresh_from_db()
                if run.status == TrainingRun.Status.FAILED:
                    self.message_user(request, f"Run {run.pk}: {run.error}", messages.ERROR)
                else:
                    self.message_user(request, f"Queued run {run.pk} on {version.ref}.")


admin.site.unregister(DatasetVersion)
admin.site.register(DatasetVersion, DatasetVersionTrainingAdmin)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
