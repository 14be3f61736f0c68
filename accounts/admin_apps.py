from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """Django's admin, with the portal's site: team members log in, not only staff."""

    default_site = "accounts.admin_site.PortalAdminSite"
