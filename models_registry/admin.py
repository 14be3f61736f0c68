from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html_join

from accounts import access
from accounts.access import Capability
from accounts.admin_scoping import TeamListFilter, TeamScopedAdmin
from hpml_portal import charts
from hpml_portal.admin_pages import ObjectPageAdmin
from hpml_portal.admin_utils import admin_link, milliseconds
from hpml_portal.errors import ServiceError

from . import admin_model_page, admin_tryit, selectors, services
from .admin_promote import PromoteAdminMixin
from .models import AliasEvent, ModelAlias, ModelVersion, RegisteredModel


class ModelAliasInline(admin.TabularInline):
    model = ModelAlias
    fields = ["alias", "version", "updated_by", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return True  # shown on a model's page, which has already checked the person's role

    # Each row prints its model, versions and user: fetch them with the rows, not one by one.
    related = ["model", "version__model", "updated_by"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.related)


class AliasEventInline(ModelAliasInline):
    model = AliasEvent
    fields = ["created_at", "alias", "move", "user", "comment"]
    readonly_fields = fields
    verbose_name_plural = "alias history"
    related = ["model", "from_version", "to_version", "user"]

    @admin.display(description="versions")
    def move(self, obj):
        # On the model's own page its name would repeat on every row: versions by number.
        return f"{_number(obj.from_version)} → {_number(obj.to_version)}"


@admin.register(RegisteredModel)
class RegisteredModelAdmin(TeamScopedAdmin):
    selector = staticmethod(selectors.registered_model_list)
    list_display = [
        "name",
        "team",
        "version_count",
        "latest_version",
        "alias_list",
        "created_at",
    ]
    list_filter = [TeamListFilter]
    search_fields = ["name", "description"]
    fields = [
        "team",
        "name",
        "description",
        "log_sample_rate",
        "mlflow_name",
        "created_at",
        "versions_table",
        "try_it",
    ]
    readonly_fields = ["team", "name", "mlflow_name", "created_at", "versions_table", "try_it"]
    inlines = [ModelAliasInline, AliasEventInline]

    class Media:
        js = ["hpml/tryit.js", "hpml/tryit-pad.js"]
        css = {"all": ["hpml/tryit.css"]}

    def get_urls(self):
        view = self.admin_site.admin_view(self.example_view)
        name = "models_registry_registeredmodel_example"
        return [path("<path:object_id>/example/", view, name=name), *super().get_urls()]

    def example_view(self, request, object_id):
        """One row of a dataset version of the model's team, as the try-it form's body."""
        return admin_tryit.example_response(self.get_object(request, object_id), request.GET)

    @admin.display(description="versions, newest first")
    def versions_table(self, obj):
        return admin_model_page.versions_table(obj)

    @admin.display(description="try it")
    def try_it(self, obj):
        return admin_model_page.try_it(obj)

    def has_add_permission(self, request):
        return False  # models come from training runs

    def save_model(self, request, obj, form, change):
        services.registered_model_describe(
            model=obj,
            description=obj.description,
            log_sample_rate=obj.log_sample_rate,
            user=request.user,
        )

    @admin.display(ordering="version_count", description="versions")
    def version_count(self, obj):
        return obj.version_count

    @admin.display(ordering="latest_version", description="latest")
    def latest_version(self, obj):
        return obj.latest_version

    @admin.display(description="aliases")
    def alias_list(self, obj):
        return ", ".join(f"{a.alias} → v{a.version.version}" for a in obj.aliases.all()) or "-"


@admin.register(ModelVersion)
class ModelVersionAdmin(PromoteAdminMixin, ObjectPageAdmin, TeamScopedAdmin):
    selector = staticmethod(selectors.model_version_list)
    read_only = True
    list_display = [
        "__str__",
        "alias_list",
        "architecture",
        "test_accuracy",
        "run_link",
        "dataset_version",
        "mlflow_version",
        "mirror_state",
        "archived",
        "created_at",
    ]
    list_filter = [
        TeamListFilter,
        ("model", admin.RelatedOnlyFieldListFilter),
        "architecture",
        ("archived_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["model__name", "sha256", "mlflow_run_id"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "model",
                    "version",
                    "alias_list",
                    "architecture",
                    "archived_at",
                    "archived_by",
                    "integrity_error",
                ]
            },
        ),
        ("Quality", {"fields": ["metric_table", "serving"]}),
        ("Lineage", {"fields": ["lineage", "signature_table"]}),
        ("Artifact", {"fields": ["artifact", "sha256", "size"]}),
        (
            "MLflow",
            {
                "fields": [
                    "mlflow_version",
                    "mlflow_run_id",
                    "mirror_state",
                    "mirror_error",
                    "mirror_attempts",
                ]
            },
        ),
        ("Made", {"fields": ["created_by", "created_at"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    actions = [
        "promote_production",
        "promote_staging",
        "archive_versions",
        "restore_versions",
        "compare_versions",
    ]
    change_form_template = "admin/models_registry/modelversion/change_form.html"
    object_buttons = (("archive_versions", "Archive"), ("restore_versions", "Restore"))

    def button_offered(self, obj, action: str) -> bool:
        archived = obj.archived_at is not None
        return archived if action == "restore_versions" else not archived

    def get_urls(self):
        return [*self.promote_urls(), *super().get_urls()]

    @admin.action(description="Compare the selected versions")
    def compare_versions(self, request, queryset):
        versions = list(queryset.order_by("model__name", "version"))
        if not 2 <= len(versions) <= selectors.MAX_COMPARED:
            self.message_user(
                request, f"Select 2 to {selectors.MAX_COMPARED} versions.", messages.ERROR
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Compare model versions",
            "opts": self.model._meta,
            "labels": [str(version) for version in versions],
            "comparison": selectors.model_version_compare(versions),
        }
        return TemplateResponse(request, "admin/models_registry/modelversion/compare.html", context)

    @admin.display(description="serving")
    def serving(self, obj):
        from inference.selectors import model_version_stats

        stats = model_version_stats(obj)
        return format_html_join(
            "",
            "<div>{}: {} requests ({} rejected), {} instances, p50 {}, p99 {} "
            "(of {} logged), accuracy from feedback {}</div>",
            (
                (
                    label,
                    window["requests"],
                    window["rejected"],
                    window["instances"],
                    milliseconds(window["latency_ms"]["p50"]),
                    milliseconds(window["latency_ms"]["p99"]),
                    window["logged"],
                    _share(window["feedback"]),
                )
                for label, window in (
                    ("last hour", stats["last_hour"]),
                    ("last day", stats["last_day"]),
                )
            ),
        )

    @admin.display(description="made by")
    def lineage(self, obj):
        return admin_model_page.lineage(obj)

    @admin.display(description="input and output")
    def signature_table(self, obj):
        return charts.key_value_table(obj.signature, caption="signature")

    @admin.display(description="size", ordering="size_bytes")
    def size(self, obj):
        return filesizeformat(obj.size_bytes)

    @admin.display(description="metrics")
    def metric_table(self, obj):
        return charts.metric_summary(obj.metrics, caption="test split")

    @admin.display(description="archived", boolean=True, ordering="archived_at")
    def archived(self, obj):
        return obj.archived_at is not None

    @admin.display(description="aliases")
    def alias_list(self, obj):
        return ", ".join(sorted(a.alias for a in obj.aliases.all())) or "-"

    @admin.display(description="test accuracy")
    def test_accuracy(self, obj):
        value = obj.metrics.get("test_accuracy")
        return f"{value:.4f}" if value is not None else "-"

    @admin.display(description="run")
    def run_link(self, obj):
        return admin_link(obj.run, f"run {obj.run_id}" if obj.run_id else None)

    def has_promote_production_permission(self, request):
        return access.can_anywhere(request.user, Capability.PROMOTE)

    def has_set_alias_permission(self, request):
        return access.can_anywhere(request.user, Capability.WRITE)

    def _promote(self, request, queryset, alias: str) -> None:
        versions = list(queryset.select_related("model"))
        if len({v.model_id for v in versions}) != len(versions):
            self.message_user(
                request, "Select at most one version of each model to promote.", messages.ERROR
            )
            return
        for version in versions:
            try:
                event = services.model_alias_set(
                    model_version=version,
                    alias=alias,
                    user=request.user,
                    comment="set in the admin",
                )
            except ServiceError as exc:
                self.message_user(request, f"{version}: {exc}", messages.ERROR)
                continue
            if event is None:
                self.message_user(
                    request, f"{version.model.name}@{alias} already is v{version.version}."
                )
            else:
                self.message_user(request, f"{version.model.name}@{alias} → v{version.version}.")

    @admin.action(description="Promote to production", permissions=["promote_production"])
    def promote_production(self, request, queryset):
        self._promote(request, queryset, "production")

    @admin.action(description="Promote to staging", permissions=["set_alias"])
    def promote_staging(self, request, queryset):
        self._promote(request, queryset, "staging")

    @admin.action(description="Archive the selected versions", permissions=["set_alias"])
    def archive_versions(self, request, queryset):
        self._archive(request, queryset, services.model_version_archive, "archived")

    @admin.action(description="Restore the selected archived versions", permissions=["set_alias"])
    def restore_versions(self, request, queryset):
        self._archive(request, queryset, services.model_version_restore, "restored")

    def _archive(self, request, queryset, service, done: str) -> None:
        for version in queryset.select_related("model__team"):
            try:
                service(model_version=version, user=request.user, comment="in the admin")
            except ServiceError as exc:
                self.message_user(request, f"{version}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{version} {done}.")


@admin.register(AliasEvent)
class AliasEventAdmin(TeamScopedAdmin):
    selector = staticmethod(selectors.alias_event_list)
    read_only = True
    list_display = ["created_at", "model", "alias", "from_version", "to_version", "user", "comment"]
    list_filter = ["alias", TeamListFilter, ("model", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["model__name", "alias", "comment", "user__username"]


def _number(version) -> str:
    return f"v{version.version}" if version is not None else "nothing"


def _share(feedback: dict) -> str:
    if feedback["accuracy"] is None:
        return "- (no feedback)"
    return f"{feedback['accuracy']:.3f} on {feedback['labels']} labels"
