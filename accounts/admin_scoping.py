"""What every team-owned admin page shares: rows from the selectors, scoped to the person
signed in; permissions from their roles, not Django's per-model permissions."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from hpml_portal.models import team_of

from . import access, selectors
from .access import Capability
from .throttles import throttled_response


class TeamListFilter(admin.SimpleListFilter):
    """Filter by one of the teams the person can read."""

    title = "team"
    parameter_name = "team"

    def lookups(self, request, model_admin):
        teams = selectors.team_list(user=request.user, capability=Capability.READ)
        return [(t.slug, t.slug) for t in teams]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{f"{queryset.model.TEAM_PATH}__slug": self.value()})
        return queryset


class TeamScopedAdmin(admin.ModelAdmin):
    """List pages show what the person may read; another team's object answers 404 and one
    of their own teams' objects that their role may not read, 403. Nothing is deleted here:
    versions, runs and models refer to each other and the audit trail to them."""

    selector = None  # staticmethod(callable(user=..., capability=...) -> QuerySet)
    read_only = False  # rows written only through services (versions, runs, logs)

    def get_queryset(self, request):
        return self.selector(user=request.user, capability=Capability.READ)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            return obj
        try:
            visible = self.selector(user=request.user, capability=None).filter(pk=object_id)
            exists = visible.exists()
        except (ValueError, ValidationError):
            exists = False
        if exists:
            raise PermissionDenied("your role in this team does not let you read it")
        raise Http404(f"there is no {self.opts.verbose_name} {object_id!r} that you can see")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        refused = throttled_response(request)
        return refused or super().changeform_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        # POSTs to the list are actions: training, promotion, cancelling.
        return throttled_response(request) or super().changelist_view(request, extra_context)

    def team_id_of(self, obj) -> int:
        return team_of(obj).pk

    def has_module_permission(self, request) -> bool:
        return access.can_anywhere(request.user, Capability.READ)

    def has_view_permission(self, request, obj=None) -> bool:
        if obj is None:
            return access.can_anywhere(request.user, Capability.READ)
        return access.can(request.user, self.team_id_of(obj), Capability.READ)

    def has_add_permission(self, request) -> bool:
        return not self.read_only and access.can_anywhere(request.user, Capability.WRITE)

    def has_change_permission(self, request, obj=None) -> bool:
        if self.read_only:
            return False
        if obj is None:
            return access.can_anywhere(request.user, Capability.WRITE)
        return access.can(request.user, self.team_id_of(obj), Capability.WRITE)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # New objects go to a team where the person may write; never offer another team.
        if db_field.name == "team":
            kwargs["queryset"] = selectors.team_list(user=request.user, capability=Capability.WRITE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        owns_team = any(field.name == "team" for field in self.opts.fields)
        if obj is not None and owns_team and "team" not in fields:
            fields.insert(0, "team")  # an object stays in the team it was made in
        return fields
