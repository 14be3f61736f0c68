"""The dataset versions' admin, with "Train a model" and "Run a hyperparameter sweep"."""

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html

from accounts import access
from accounts.access import Capability
from datasets.admin import DatasetVersionAdmin
from datasets.models import DatasetVersion
from hpml_portal.admin_utils import admin_link
from hpml_portal.errors import ServiceError

from .. import services, sweeps
from ..forms import SweepForm, TrainForm
from ..models import TrainingRun


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
                sweep = sweeps.sweep_create(
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
