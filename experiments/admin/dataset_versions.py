"""The dataset versions' admin, with "Train a model" and "Run a hyperparameter sweep": as
actions on the list, and as forms linked from a READY version's page."""

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path
from django.utils.html import format_html

from accounts import access
from accounts.access import Capability
from accounts.throttles import throttled_response
from datasets.admin import DatasetVersionAdmin
from datasets.models import DatasetVersion
from hpml_portal.admin_pages import Tool
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

    def get_urls(self):
        def view(route, func, name):
            return path(
                route, self.admin_site.admin_view(func), name=f"datasets_datasetversion_{name}"
            )

        return [
            view("<path:object_id>/train/", self.train_view, "train"),
            view("<path:object_id>/sweep/", self.sweep_view, "sweep"),
            *super().get_urls(),
        ]

    def object_links(self, request, obj) -> list[Tool]:
        links = super().object_links(request, obj)
        if links:  # READY, and the person may write in its team
            links += [
                Tool("Train a model…", self._url("train", obj.pk), post=False),
                Tool("Run a sweep…", self._url("sweep", obj.pk), post=False),
            ]
        return links

    def train_view(self, request, object_id):
        """The train form for one version; a queued run opens its page, to watch it."""
        version = self.version_to_write(request, object_id, "training")
        refused = throttled_response(request)
        if refused is not None:
            return refused
        form = _form(TrainForm, request, [version])
        if form.is_valid():
            try:
                run = self._start_run(request, version, form.cleaned_data)
            except ServiceError as exc:
                form.add_error(None, str(exc))  # the person's input stays on the form
            else:
                return redirect("admin:experiments_trainingrun_change", run.pk)
        return self._action_page(
            request, [version], form, "train", f"Train a model on {version.ref}", "Queue training"
        )

    def sweep_view(self, request, object_id):
        """The sweep form for one version; a queued sweep opens its page."""
        version = self.version_to_write(request, object_id, "sweeping")
        refused = throttled_response(request)
        if refused is not None:
            return refused
        form = _form(SweepForm, request, [version])
        sweep = self._start_sweep(request, version, form) if form.is_valid() else None
        if sweep is not None:
            return redirect("admin:experiments_sweep_change", sweep.pk)
        title = f"Run a hyperparameter sweep on {version.ref}"
        return self._action_page(request, [version], form, "sweep", title, "Queue the sweep")

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
                self._start_run(request, version, data)
            except ServiceError as exc:
                self.message_user(request, f"{version.ref}: {exc}", messages.ERROR)

    def _start_run(self, request, version, data) -> TrainingRun:
        run = services.training_run_create(
            experiment_name=data["experiment"],
            dataset_version=version,
            model_name=data["model_name"],
            architecture=data["architecture"],
            hyperparameters=data["hyperparameters"],
            user=request.user,
        )
        run.refresh_from_db()
        if run.status == TrainingRun.Status.FAILED:  # the broker refused it
            self.message_user(request, f"Run {run.pk}: {run.error}", messages.ERROR)
        else:
            self.message_user(request, f"Queued run {run.pk} on {version.ref}.")
        return run

    @admin.action(description="Run a hyperparameter sweep on this version", permissions=["train"])
    def run_sweep(self, request, queryset):
        versions = list(queryset.select_related("dataset"))
        if len(versions) != 1:
            self.message_user(request, "Select one dataset version to sweep on.", messages.ERROR)
            return None
        form = _form(SweepForm, request, versions)
        if form.is_valid() and self._start_sweep(request, versions[0], form) is not None:
            return None  # back to the list
        return self._action_page(
            request, versions, form, "sweep", "Run a hyperparameter sweep", "Queue the sweep"
        )

    def _start_sweep(self, request, version, form):
        """The sweep the valid form asks for, or None with the service's refusal on the form
        (the person's input stays there)."""
        data = form.cleaned_data
        try:
            sweep = sweeps.sweep_create(
                experiment_name=data["experiment"],
                dataset_version=version,
                model_name=data["model_name"],
                architecture=data["architecture"],
                space=data["space"],
                random=data["random"],
                seed=data["seed"],
                metric=data["metric"],
                user=request.user,
            )
        except ServiceError as exc:
            form.add_error(None, str(exc))
            return None
        self.message_user(
            request,
            format_html(
                "Queued {} with {} run(s) on {}.",
                admin_link(sweep, f"sweep {sweep.pk}"),
                sweep.runs.count(),
                version.ref,
            ),
        )
        return sweep

    def _action_page(self, request, versions, form, page: str, title: str, submit: str):
        """The train or sweep form (``train.html``, ``sweep.html``) on the selected versions:
        it posts back where it came from, the list's action or the version's own form."""
        return self._page(
            request,
            f"{page}.html",
            title,
            form,
            versions=versions,
            action="train_model" if page == "train" else "run_sweep",
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
