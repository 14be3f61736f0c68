from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts import access
from accounts.access import Capability
from accounts.admin_scoping import TeamListFilter, TeamScopedAdmin
from accounts.throttles import throttled_response
from hpml_portal.admin_pages import ObjectPageAdmin, Tool
from hpml_portal.admin_utils import admin_link, status_badge
from hpml_portal.errors import NotFound, ServiceError, Unavailable

from . import display, selectors, services
from .forms import DatasetSourceForm, RecipeForm
from .lineage_graph import lineage_graph
from .models import Dataset, DatasetVersion


@admin.register(Dataset)
class DatasetAdmin(TeamScopedAdmin):
    selector = staticmethod(selectors.dataset_list)
    list_display = ["name", "team", "versions", "description", "created_at"]
    list_filter = [TeamListFilter]
    search_fields = ["name", "description"]
    readonly_fields = ["created_by", "created_at"]
    fields = ["team", "name", "description", "created_by", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return ["name", *fields] if obj else fields

    @admin.display(ordering="version_count")
    def versions(self, obj):
        url = reverse("admin:datasets_datasetversion_changelist") + f"?dataset__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.version_count)

    def save_model(self, request, obj, form, change):
        # The form has already checked the name (a slug, not taken in the team).
        if change:
            services.dataset_describe(dataset=obj, description=obj.description, user=request.user)
            return
        created = services.dataset_create(
            name=obj.name, team=obj.team, description=obj.description, user=request.user
        )
        obj.pk, obj.created_at, obj.created_by = created.pk, created.created_at, created.created_by


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ObjectPageAdmin, TeamScopedAdmin):
    selector = staticmethod(selectors.dataset_version_list)
    read_only = True
    list_display = [
        "ref",
        "status_badge",
        "progress_display",
        "source_kind",
        "format",
        "samples",
        "feature_shape",
        "classes",
        "size_display",
        "parent_link",
        "created_at",
    ]
    list_filter = [
        "status",
        "source_kind",
        "format",
        TeamListFilter,
        ("dataset", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["dataset__name", "sha256", "source"]
    list_select_related = ["dataset__team", "parent__dataset"]
    actions = ["retry_versions", "process_version", "delete_versions"]
    fieldsets = [
        (None, {"fields": ["dataset", "version", "live_status", "live_progress", "error"]}),
        ("Source", {"fields": ["source_kind", "source", "label_column", "parent", "recipe_view"]}),
        ("Content", {"fields": ["format", "file", "sha256", "size_display", "schema_view"]}),
        ("Statistics", {"fields": ["stats_view", "preview_view", "thumbnails_view"]}),
        ("Lineage", {"fields": ["lineage_view"]}),
        (
            "Job",
            {"fields": ["worker", "created_by", "created_at", "started_at", "finished_at"]},
        ),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    change_list_template = "admin/datasets/datasetversion/change_list.html"
    object_buttons = (("retry_versions", "Retry"),)
    # While a worker ingests the version, its page shows the progress, then what only a
    # READY version has: schema, statistics, first rows (hpml/live.js).
    live_parts = ("live_status", "live_progress")

    def live_done(self, obj) -> bool:
        return obj.status in (DatasetVersion.Status.READY, DatasetVersion.Status.FAILED)

    def button_offered(self, obj, action: str) -> bool:
        return obj.status == DatasetVersion.Status.FAILED

    def object_links(self, request, obj) -> list[Tool]:
        """Forms that start from a READY version, for those who may write in its team."""
        if obj.status != DatasetVersion.Status.READY or not access.can(
            request.user, obj.dataset.team_id, Capability.WRITE
        ):
            return []
        url = reverse("admin:datasets_datasetversion_process", args=[obj.pk])
        return [Tool("Process…", url, post=False)]

    @admin.display(description="status")
    def live_status(self, obj):
        return self.live("live_status", status_badge(obj.status))

    @admin.display(description="progress")
    def live_progress(self, obj):
        return self.live("live_progress", display.progress(obj))

    @admin.display(description="version", ordering="version")
    def ref(self, obj):
        return obj.ref

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status)

    @admin.display(description="progress")
    def progress_display(self, obj):
        return display.progress(obj)

    @admin.display(description="size", ordering="size_bytes")
    def size_display(self, obj):
        return display.size(obj.size_bytes) if obj.size_bytes else "-"

    @admin.display(description="samples")
    def samples(self, obj):
        return obj.schema.get("samples", "-")

    @admin.display(description="features")
    def feature_shape(self, obj):
        shape = obj.schema.get("feature_shape")
        return "x".join(map(str, shape)) if shape else "-"

    @admin.display(description="classes")
    def classes(self, obj):
        return obj.schema.get("num_classes", "-")

    @admin.display(description="parent")
    def parent_link(self, obj):
        return admin_link(obj.parent)

    @admin.display(description="schema")
    def schema_view(self, obj):
        return display.schema_table(obj.schema)

    @admin.display(description="per-feature statistics")
    def stats_view(self, obj):
        return display.stats_table(obj.stats)

    @admin.display(description="first rows")
    def preview_view(self, obj):
        return display.preview_table(obj.preview)

    @admin.display(description="samples")
    def thumbnails_view(self, obj):
        if not obj.thumbnails:
            return "-"
        url = reverse("admin:datasets_datasetversion_thumbnails", args=[obj.pk])
        return format_html('<img src="{}" alt="the first samples of {}">', url, obj.ref)

    @admin.display(description="recipe")
    def recipe_view(self, obj):
        return display.recipe(obj.recipe)

    @admin.display(description="lineage")
    def lineage_view(self, obj):
        graph = selectors.dataset_version_lineage(obj)
        return format_html("{}{}", lineage_graph(graph), display.lineage(graph))

    def get_urls(self):
        def view(route, func, name):
            return path(
                route, self.admin_site.admin_view(func), name=f"datasets_datasetversion_{name}"
            )

        return [
            view("upload/", self.upload_view, "upload"),
            view("<path:object_id>/process/", self.process_view, "process"),
            view("<path:object_id>/thumbnails.png", self.thumbnails_image, "thumbnails"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_upload": self.has_ingest_permission(request)}
        return super().changelist_view(request, extra_context)

    def has_ingest_permission(self, request) -> bool:
        return access.can_anywhere(request.user, Capability.WRITE)

    @admin.action(description="Retry the selected FAILED versions", permissions=["ingest"])
    def retry_versions(self, request, queryset):
        retried = self._each(request, queryset, services.dataset_version_retry)
        self.message_user(request, f"Queued {retried} version(s) again.")

    @admin.action(description="Delete the selected unused versions", permissions=["ingest"])
    def delete_versions(self, request, queryset):
        deleted = self._each(request, queryset, services.dataset_version_delete)
        self.message_user(request, f"Deleted {deleted} version(s).")

    @admin.action(description="Process the selected version…", permissions=["ingest"])
    def process_version(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to process.", messages.ERROR)
            return None
        return redirect("admin:datasets_datasetversion_process", queryset.get().pk)

    def _each(self, request, queryset, service) -> int:
        done = 0
        for version in queryset.select_related("dataset__team"):
            try:
                service(version=version, user=request.user)
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"{version.ref}: {exc}", messages.ERROR)
        return done

    def thumbnails_image(self, request, object_id):
        version = self.get_object(request, object_id)
        if version is None:
            raise Http404("no such version")
        try:
            png = selectors.dataset_version_thumbnails(version)
        except NotFound as exc:
            raise Http404(str(exc)) from exc
        except Unavailable as exc:
            return HttpResponse(str(exc), status=503, content_type="text/plain")
        return HttpResponse(png, content_type="image/png")

    def process_view(self, request, object_id):
        """A recipe applied to one READY version, as a new version made on a worker."""
        version = self.version_to_write(request, object_id, "processing")
        refused = throttled_response(request)
        if refused is not None:
            return refused
        form = RecipeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                child, created = services.dataset_version_process(
                    version=version, spec=form.spec(), user=request.user
                )
            except ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                word = "Queued" if created else "This recipe already made"
                self.message_user(request, f"{word} {child.ref} from {version.ref}.")
                return redirect("admin:datasets_datasetversion_change", child.pk)
        return self._page(request, "process.html", f"Process {version.ref}", form, version=version)

    def version_to_write(self, request, object_id, doing: str) -> DatasetVersion:
        """The version a form starts from: 404 outside the person's teams, 403 without the
        scientist role in its team."""
        version = self.get_object(request, object_id)
        if version is None:
            raise Http404("no such version")
        if not access.can(request.user, version.dataset.team_id, Capability.WRITE):
            raise PermissionDenied(f"{doing} needs the scientist role in the version's team")
        return version

    def upload_view(self, request):
        """A new version from a file, a URL, a query or a built-in set, checked on a worker."""
        if not self.has_ingest_permission(request):
            raise PermissionDenied("adding data needs the scientist role in a team")
        refused = throttled_response(request)
        if refused is not None:
            return refused
        form = DatasetSourceForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            try:
                version, created = services.dataset_version_ingest(
                    dataset_name=form.cleaned_data["dataset"],
                    team=form.cleaned_data["team"],
                    source=form.ingest_source(),
                    user=request.user,
                )
            except ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                self._report(request, version, created)
                url = reverse("admin:datasets_datasetversion_change", args=[version.pk])
                if request.headers.get("X-Requested-With") == "XMLHttpRequest":
                    return JsonResponse({"redirect": url})  # hpml/upload.js goes there
                return redirect(url)
        datasets = selectors.dataset_list(user=request.user, capability=Capability.WRITE)
        return self._page(
            request,
            "upload.html",
            "Add a dataset version",
            form,
            datasets=datasets.values_list("name", flat=True),
        )

    def _report(self, request, version, created: bool) -> None:
        version.refresh_from_db()
        if version.status == DatasetVersion.Status.FAILED:
            self.message_user(request, f"{version.ref}: {version.error}", messages.ERROR)
        elif created:
            self.message_user(request, f"Queued {version.ref}: a worker is ingesting it.")
        else:
            self.message_user(
                request, f"{version.ref} already holds this content.", messages.WARNING
            )

    def _page(self, request, template: str, title: str, form, **context):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": title,
            **context,
        }
        return TemplateResponse(request, f"admin/datasets/datasetversion/{template}", context)
