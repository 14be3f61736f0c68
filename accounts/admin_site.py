"""The portal's admin site: one login for staff and team members, scoped by team."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.urls import path

from . import access, sign_in


def may_use_portal(user) -> bool:
    """Staff, and anyone who belongs to a team, may sign in to the portal."""
    if not (user.is_active and user.is_authenticated):
        return False
    return user.is_staff or bool(access.roles(user))  # read once per request


class PortalAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter the username and password of an account that belongs "
        "to a team. Both fields may be case-sensitive.",
    }

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            # The backend refuses a locked name whichever form sends it; this form says why.
            wait = sign_in.locked_for(self.cleaned_data.get("username") or "")
            if wait:
                raise ValidationError(sign_in.lockout_message(wait), code="locked") from None
            raise

    def confirm_login_allowed(self, user) -> None:
        if not user.is_active:
            raise ValidationError(self.error_messages["inactive"], code="inactive")
        if not may_use_portal(user):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class PortalAdminSite(admin.AdminSite):
    site_header = "High Peaks ML Platform"
    site_title = "High Peaks ML"
    index_title = "Datasets, training, models and predictions"
    login_form = PortalAuthenticationForm

    def has_permission(self, request) -> bool:
        return may_use_portal(request.user)

    def get_urls(self):
        polled = path("dashboard.json", self.admin_view(self.dashboard_json), name="dashboard")
        return [polled, *super().get_urls()]

    def index(self, request, extra_context=None):
        from hpml_portal.dashboard import dashboard

        context = {"dashboard": dashboard(request.user), **(extra_context or {})}
        return super().index(request, context)

    def dashboard_json(self, request):
        """The front page's live parts, for the person signed in (polled every few seconds)."""
        from hpml_portal.dashboard import dashboard

        return JsonResponse(dashboard(request.user))
