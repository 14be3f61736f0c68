from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse

from hpml_portal.errors import ServiceError

from . import access, selectors, services
from .admin_scoping import TeamScopedAdmin
from .admin_site import may_use_portal
from .forms import ApiTokenCreateForm
from .models import ApiToken, AuditEvent, Membership, Team
from .throttles import throttled_response


def _superuser(request) -> bool:
    return request.user.is_authenticated and access.is_operator(request.user)


class OperatorOnlyMixin:
    """Pages that change who may do what: staff superusers only."""

    def has_module_permission(self, request) -> bool:
        return _superuser(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return _superuser(request)

    def has_add_permission(self, request) -> bool:
        return _superuser(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return _superuser(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ["user", "role", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


@admin.register(Team)
class TeamAdmin(TeamScopedAdmin):
    """Teams people belong to, with their members; staff superusers make and rename them."""

    selector = staticmethod(selectors.team_list)
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    fields = ["slug", "name", "created_at"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        return ["slug", "created_at"] if obj else ["created_at"]

    def has_add_permission(self, request) -> bool:
        return _superuser(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return _superuser(request)

    def save_model(self, request, obj, form, change):
        if change:
            services.team_rename(team=obj, name=obj.name, actor=request.user)
            return
        created = services.team_create(slug=obj.slug, name=obj.name, actor=request.user)
        obj.pk, obj.created_at = created.pk, created.created_at


@admin.register(Membership)
class MembershipAdmin(OperatorOnlyMixin, admin.ModelAdmin):
    list_display = ["team", "user", "role", "updated_at"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__slug"]
    list_select_related = ["team", "user"]
    fields = ["team", "user", "role"]
    actions = ["remove_memberships"]

    def get_readonly_fields(self, request, obj=None):
        return ["team", "user"] if obj else []

    def save_model(self, request, obj, form, change):
        saved = services.membership_set(
            team=obj.team, user=obj.user, role=obj.role, actor=request.user
        )
        if saved is not None:
            obj.pk = saved.pk

    @admin.action(description="Remove the selected memberships", permissions=["remove"])
    def remove_memberships(self, request, queryset):
        removed = sum(
            services.membership_remove(team=m.team, user=m.user, actor=request.user)
            for m in queryset.select_related("team", "user")
        )
        self.message_user(request, f"Removed {removed} membership(s).")

    def has_remove_permission(self, request) -> bool:
        return _superuser(request)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Everyone sees and revokes their own tokens; staff superusers, everyone's. A token's key
    is shown once, on the page that made it."""

    list_display = [
        "prefix",
        "user",
        "name",
        "scope",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "name", "prefix"]
    fields = list_display + ["predict_models", "created_by"]
    readonly_fields = fields
    actions = ["revoke_tokens"]

    def get_queryset(self, request):
        return selectors.api_token_list(user=request.user)

    def get_object(self, request, object_id, from_field=None):
        found = super().get_object(request, object_id, from_field)
        if found is None:  # someone else's token, or none at all
            raise Http404(f"there is no token {object_id!r} of yours")
        return found

    @admin.display(description="may")
    def scope(self, obj) -> str:
        return "predict with " + ", ".join(obj.predict_models) if obj.predict_only else "all roles"

    def has_module_permission(self, request) -> bool:
        return may_use_portal(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return may_use_portal(request.user)

    def has_add_permission(self, request) -> bool:
        return may_use_portal(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return may_use_portal(request.user)

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        revoked = sum(
            services.api_token_revoke(token=token, actor=request.user)
            for token in queryset.select_related("user")
        )
        self.message_user(request, f"Revoked {revoked} token(s).")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        refused = throttled_response(request)
        if refused is not None:
            return refused
        form = ApiTokenCreateForm(request.POST or None, request=request)
        if request.method == "POST" and form.is_valid():
            try:
                token, key = services.api_token_create(actor=request.user, **form.cleaned_data)
            except ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                context = {**self.admin_site.each_context(request), "opts": self.opts}
                context.update(title="Token created", token=token, key=key)
                response = TemplateResponse(
                    request, "admin/accounts/apitoken/created.html", context
                )
                response["Cache-Control"] = "no-store"  # the key must not outlive this page
                return response
        context = {**self.admin_site.each_context(request), "opts": self.opts}
        context.update(title="Make an API token", form=form)
        return TemplateResponse(request, "admin/accounts/apitoken/add.html", context)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log: staff superusers read it (it spans every team), nobody edits it."""

    list_display = ["created_at", "action", "actor_name", "team", "target", "ip"]
    list_filter = ["action", "team"]
    search_fields = ["actor_name", "target"]
    date_hierarchy = "created_at"
    list_select_related = ["team"]
    fields = ["created_at", "action", "actor", "actor_name", "team", "target", "detail", "ip"]
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.audit_event_list()

    def has_module_permission(self, request) -> bool:
        return _superuser(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return _superuser(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
