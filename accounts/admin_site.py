"""The portal's admin site: one login for staff and team members, scoped by team."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from .models import Membership


def may_use_portal(user) -> bool:
    """Staff, and anyone who belongs to a team, may sign in to the portal."""
    if not (user.is_active and user.is_authenticated):
        return False
    return user.is_staff or Membership.objects.filter(user=user).exists()


class PortalAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter the username and password of an account that belongs "
        "to a team. Both fields may be case-sensitive.",
    }

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
