"""Password sign-in, limited per account: SIGN_IN_FAILURE_LIMIT failures lock it for a while.

The first failure for a user name opens a window of SIGN_IN_LOCKOUT_SECONDS; once the window
holds SIGN_IN_FAILURE_LIMIT failures, no password is checked for that name (the right one
included) until the window ends. A sign-in that succeeds before then closes the window. Counted
in the cache (Redis when CACHE_URL names it), so every web process counts together; user names
are counted case-folded. With the cache down, sign-in is not limited (a warning is logged)
rather than refused to everyone.

Tokens and the identity service's JWTs are not passwords and are not counted here.
"""

import hashlib
import logging
import math
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

logger = logging.getLogger(__name__)


def _keys(username: str) -> tuple[str, str]:
    digest = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return f"hpml:sign-in:{digest}:failures", f"hpml:sign-in:{digest}:since"


def _limited() -> bool:
    return settings.SIGN_IN_FAILURE_LIMIT > 0


def locked_for(username: str) -> int:
    """Seconds until password sign-in as ``username`` is tried again (0: it is tried now)."""
    if not _limited() or not username:
        return 0
    failures_key, since_key = _keys(username)
    try:
        found = cache.get_many([failures_key, since_key])
    except Exception:
        logger.warning("sign-in failures not read: the cache cannot be reached")
        return 0
    if found.get(failures_key, 0) < settings.SIGN_IN_FAILURE_LIMIT:
        return 0
    since = found.get(since_key, time.time())
    return max(1, math.ceil(since + settings.SIGN_IN_LOCKOUT_SECONDS - time.time()))


def record_failure(username: str) -> None:
    if not _limited() or not username:
        return
    failures_key, since_key = _keys(username)
    window = settings.SIGN_IN_LOCKOUT_SECONDS
    try:
        if cache.add(since_key, time.time(), window):
            cache.set(failures_key, 0, window)  # a new window: what an old one counted is gone
        cache.add(failures_key, 0, window)
        cache.incr(failures_key)
    except Exception:
        logger.warning("sign-in failure not counted: the cache cannot be reached")


def forget_failures(username: str) -> None:
    if not _limited() or not username:
        return
    try:
        cache.delete_many(_keys(username))
    except Exception:
        logger.warning("sign-in failures not cleared: the cache cannot be reached")


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return (
        "Too many failed sign-ins for this account. Try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''}."
    )


class LimitedModelBackend(ModelBackend):
    """Django's user name and password check, refused while the name is locked out.

    Every form that checks a password goes through here (the portal's, the browsable API's), so
    none of them is a way round the limit.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        name = str(username or "")
        wait = locked_for(name)
        if wait:
            # Stops the other backends too; Django then sends user_login_failed (audited).
            raise PermissionDenied(lockout_message(wait))
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if username is not None and password is not None:
            if user is None:
                record_failure(name)
            else:
                forget_failures(name)
        return user
