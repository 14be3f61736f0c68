"""The dataset versions' admin, with "Train a model" and "Run a hyperparameter sweep"."""

from django.contrib import admin, messages
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
        form = _form(TrainForm, request, versions)
        if form.is_valid():
            self._start_runs(request, versions, form.cleaned_data)
            return None  # back to the list
        return self._action_page(
            request, versions, form, "train", "Train a model", "Queue training"
        )

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
        form = _form(SweepForm, request, versions)
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
        return self._action_page(
            request, versions, form, "sweep", "Run a hyperparameter sweep", "Queue the sweep"
        )

    def _action_page(self, request, versions, form, page: str, title: str, submit: str):
        """An action's form on the selected versions (``train.html``, ``sweep.html``), which
        posts back to the action that showed it."""
        return self._page(
            request,
            f"{page}.html",
            title,
            form,
            versions=versions,
            action=request.POST["action"],
            submit=submit,
            action_checkbox_name=admin.helpers.ACTION_CHECKBOX_NAME,
        )


def _form(form_class, request, versions):
    """The action's form: what was posted, else the defaults, named after the dataset."""
    initial = {"architecture": "mlp"}
    if versions:
        name = versions[0].dataset.name
        initial.update(experiment=name, model_name=name)
    return form_class(request.POST if "apply" in request.POST else None, initial=initial)


admin.site.unregister(DatasetVersion)
admin.site.register(DatasetVersion, DatasetVersionTrainingAdmin)
