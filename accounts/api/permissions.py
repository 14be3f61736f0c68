"""API permissions that every view gets (DEFAULT_PERMISSION_CLASSES)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from hpml_portal.models import team_of

from .. import access
from ..access import Capability
from ..models import ApiToken


class TokenScope(BasePermission):
    """A token limited to predicting reaches only the views that predict."""

    message = "this token may only predict"

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken) or not token.predict_only:
            return True
        if getattr(view, "allows_predict_only_tokens", False):
            return True
        self.message = f"this token may only predict with {', '.join(token.predict_models)}"
        return False


def required_capability(request, view) -> Capability:
    """What the view's action needs: its ``capabilities[action]``, else read for safe methods
    and write for the rest."""
    declared = getattr(view, "capabilities", {}).get(getattr(view, "action", None))
    if declared is not None:
        return declared
    return Capability.READ if request.method in SAFE_METHODS else Capability.WRITE


class TeamRole(BasePermission):
    """The role the action needs in the team of the object it acts on (403 naming it)."""

    def has_object_permission(self, request, view, obj) -> bool:
        access.require(request.user, team_of(obj), required_capability(request, view))
        return True


class IsSuperuser(BasePermission):
    """Staff superusers, who stand above every team (the audit log spans them all)."""

    message = "only staff superusers may read this"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and access.is_operator(user))
