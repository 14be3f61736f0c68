from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts import access
from accounts.access import Capability
from accounts.admin_scoping import TeamListFilter, TeamScopedAdmin
from accounts.throttles import throttled_response
from hpml_portal.admin_utils import admin_link, status_badge
from hpml_portal.errors import ServiceError

from . import selectors, services
from .forms import DatasetUploadForm
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
class DatasetVersionAdmin(TeamScopedAdmin):
    selector = staticmethod(selectors.dataset_version_list)
    read_only = True
    list_display = [
        "ref",
        "status_badge",
        "format",
        "samples",
        "feature_shape",
        "classes",
        "size_bytes",
        "parent_link",
        "created_at",
    ]
    list_filter = [
        "status",
        "format",
        TeamListFilter,
        ("dataset", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["dataset__name", "sha256", "source"]
    list_select_related = ["dataset__team", "parent__dataset"]
    readonly_fields = [
        "dataset",
        "version",
        "status",
        "format",
        "source",
        "file",
        "sha256",
        "size_bytes",
        "label_column",
        "schema",
        "stats",
        "error",
        "parent",
        "recipe",
        "created_by",
        "created_at",
        "finished_at",
    ]
    change_list_template = "admin/datasets/datasetversion/change_list.html"

    @admin.display(description="version", ordering="version")
    def ref(self, obj):
        return obj.ref

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return status_badge(obj.status)

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

    def get_urls(self):
        upload = path(
            "upload/",
            self.admin_site.admin_view(self.upload_view),
            name="datasets_datasetversion_upload",
        )
        return [upload, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_upload": self.has_upload_permission(request)}
        return super().changelist_view(request, extra_context)

    def has_upload_permission(self, request) -> bool:
        return access.can_anywhere(request.user, Capability.WRITE)

    def upload_view(self, request):
        """Upload a dataset file: stored now, checked on a worker."""
        if not self.has_upload_permission(request):
            raise PermissionDenied("uploading needs the scientist role in a team")
        refused = throttled_response(request)
        if refused is not None:
            return refused
        form = DatasetUploadForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                version, created = services.dataset_version_ingest(
                    dataset_name=form.cleaned_data["dataset"],
                    team=form.cleaned_data["team"],
                    source=services.IngestSource.upload(
                        upload, upload.name, form.cleaned_data["label_column"]
                    ),
                    user=request.user,
                )
            except ServiceError as exc:
                form.add_error("file", str(exc))
            else:
                version.refresh_from_db()
                if version.status == DatasetVersion.Status.FAILED:
                    self.message_user(request, f"{version.ref}: {version.error}", messages.ERROR)
                elif created:
                    self.message_user(request, f"Uploaded {version.ref}: it is being checked.")
                else:
                    self.message_user(
                        request, f"{version.ref} already holds this content.", messages.WARNING
                    )
                return redirect("admin:datasets_datasetversion_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Upload a dataset file",
            "datasets": selectors.dataset_list(
                user=request.user, capability=Capability.WRITE
            ).values_list("name", flat=True),
        }
        return TemplateResponse(request, "admin/datasets/datasetversion/upload.html", context)
