"""Session sign-ins and failed attempts go to the audit log; a sign-in clears the name's
count of attempts (``accounts/sign_in.py``)."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from . import sign_in
from .models import AuditEvent
from .services import audit_record


def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


@receiver(user_logged_in, dispatch_uid="hpml-audit-login")
def _logged_in(sender, request, user, **kwargs) -> None:
    sign_in.forget_attempts(user.get_username())
    audit_record(
        action=AuditEvent.Action.LOGIN, actor=user, target=user.get_username(), ip=_ip(request)
    )


@receiver(user_login_failed, dispatch_uid="hpml-audit-login-failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    attempted = str(credentials.get("username", ""))[:150]
    audit_record(
        action=AuditEvent.Action.LOGIN_FAILED,
        actor_name="anonymous",
        target=attempted,
        ip=_ip(request),
    )
