from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from accounts import access
from accounts.access import Capability
from accounts.admin_scoping import TeamListFilter, TeamScopedAdmin
from datasets.admin import DatasetVersionAdmin
from datasets.models import DatasetVersion
from hpml_portal.admin_utils import admin_link, status_badge
from hpml_portal.errors import ServiceError

from . import selectors, services
from .forms import SweepForm, TrainForm
from .models import Experiment, Sweep, TrainingRun
from .training.sweep_space import METRICS


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
        ("sweep", admin.RelatedOnlyFieldListFilter),
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
        "sweep",
        "register",
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
    actions = ["cancel_runs", "retry_runs", "register_runs"]

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
        return _mlflow_link(obj.experiment, obj.mlflow_run_id)

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
            except ServiceError as exc:  # e.g. it ended since the page was read
                self.message_user(request, f"Run {run.pk}: {exc}", messages.WARNING)
            else:
                cancelled += 1
        self.message_user(request, f"Asked {cancelled} run(s) to cancel.")

    @admin.action(
        description="Register the models of the selected SUCCEEDED runs", permissions=["cancel"]
    )
    def register_runs(self, request, queryset):
        _register_runs(self, request, queryset)


def _register_runs(model_admin, request, runs) -> None:
    """Register each run's model (``training_run_register``) and say what became of it."""
    for run in runs:
        try:
            version, created = services.training_run_register(run=run, user=request.user)
        except ServiceError as exc:
            model_admin.message_user(request, f"Run {run.pk}: {exc}", messages.ERROR)
            continue
        said = "registered as" if created else "was already"
        model_admin.message_user(
            request,
            format_html(
                "Run {} {} {}.",
                run.pk,
                said,
                admin_link(version, f"{version.model.name} version {version.version}"),
            ),
        )


@admin.register(Sweep)
class SweepAdmin(TeamScopedAdmin):
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
    readonly_fields = [
        "experiment",
        "dataset_version",
        "architecture",
        "model_name",
        "status_badge",
        "runs_progress",
        "metric",
        "space",
        "random",
        "seed",
        "cancel_requested",
        "best",
        "comparison",
        "mlflow_link",
        "created_by",
        "created_at",
    ]
    actions = ["cancel_sweeps", "register_best"]

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
        best = services.sweep_best_run(obj)
        if best is None:
            return "-"
        return format_html(
            "{} ({} {})",
            admin_link(best, f"run {best.pk}"),
            obj.metric,
            _number(best.metrics[obj.metric]),
        )

    @admin.display(description="runs, best first")
    def comparison(self, obj):
        ranked = selectors.sweep_ranked_runs(obj)
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
                                *(_number(run.metrics.get(m)) for m in shown),
                                admin_link(getattr(run, "model_version", None)),
                            ]
                        ),
                    ),
                )
                for run in ranked
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)

    @admin.display(description="MLflow run")
    def mlflow_link(self, obj):
        return _mlflow_link(obj.experiment, obj.mlflow_run_id)

    def has_cancel_permission(self, request):
        return access.can_anywhere(request.user, Capability.WRITE)

    @admin.action(description="Cancel the selected sweeps", permissions=["cancel"])
    def cancel_sweeps(self, request, queryset):
        for sweep in queryset:
            try:
                stopping = services.sweep_cancel(sweep=sweep, user=request.user)
            except ServiceError as exc:  # e.g. it ended since the page was read
                self.message_user(request, f"Sweep {sweep.pk}: {exc}", messages.WARNING)
            else:
                self.message_user(request, f"Sweep {sweep.pk}: asked {stopping} run(s) to stop.")

    @admin.action(
        description="Register the best run of the selected sweeps", permissions=["cancel"]
    )
    def register_best(self, request, queryset):
        for sweep in queryset:
            best = services.sweep_best_run(sweep)
            if best is None:
                self.message_user(
                    request,
                    f"Sweep {sweep.pk}: no run has succeeded with {sweep.metric} yet.",
                    messages.ERROR,
                )
            else:
                _register_runs(self, request, [best])


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _mlflow_link(experiment, mlflow_run_id: str):
    if not mlflow_run_id:
        return "-"
    if not settings.MLFLOW_UI_URL:  # no UI to send people to: the id, to look it up
        return mlflow_run_id
    url = (
        f"{settings.MLFLOW_UI_URL.rstrip('/')}/#/experiments/"
        f"{experiment.mlflow_experiment_id}/runs/{mlflow_run_id}"
    )
    return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, mlflow_run_id)


class DatasetVersionTrainingAdmin(DatasetVersionAdmin):
    """Dataset versions with "Train a model" and "Run a sweep" actions.

    The datasets app may not import this one, so the actions are added here, by registering
    the datasets app's admin again with them.
    """

    actions = [*DatasetVersionAdmin.actions, "train_model", "run_sweep"]

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

    @admin.action(description="Run a hyperparameter sweep on this version", permissions=["train"])
    def run_sweep(self, request, queryset):
        versions = list(queryset.select_related("dataset"))
        if len(versions) != 1:
            self.message_user(request, "Select one dataset version to sweep on.", messages.ERROR)
            return None
        initial = {"architecture": "mlp", "metric": "val_accuracy"}
        if versions:
            name = versions[0].dataset.name
            initial.update(experiment=name, model_name=name)
        form = SweepForm(request.POST if "apply" in request.POST else None, initial=initial)
        if form.is_valid():
            data = form.cleaned_data
            try:
                sweep = services.sweep_create(
                    experiment_name=data["experiment"],
                    dataset_version=versions[0],
                    model_name=data["model_name"],
                    architecture=data["architecture"],
                    space=data["space"],
                    random=data["random"],
                    seed=data["seed"],
                    metric=data["metric"],
                    user=request.user,
                )
            except ServiceError as exc:
                form.add_error(None, str(exc))  # the person's input stays on the form
            else:
                runs = sweep.runs.count()
                self.message_user(
                    request,
                    format_html(
                        "Queued {} with {} run(s) on {}.",
                        admin_link(sweep, f"sweep {sweep.pk}"),
                        runs,
                        versions[0].ref,
                    ),
                )
                return None  # back to the list
        context = {
            **self.admin_site.each_context(request),
            "title": "Run a hyperparameter sweep",
            "opts": self.model._meta,
            "versions": versions,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/datasets/datasetversion/sweep.html", context)


admin.site.unregister(DatasetVersion)
admin.site.register(DatasetVersion, DatasetVersionTrainingAdmin)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
