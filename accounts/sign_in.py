"""Password sign-in, limited per account: SIGN_IN_FAILURE_LIMIT failures lock it for a while.

The first attempt for a user name opens a window of SIGN_IN_LOCKOUT_SECONDS. Each attempt is
counted before its password is checked, so attempts sent side by side cannot slip past the
count; a sign-in that succeeds closes the window (``accounts/signals.py``). Once the window
holds more than SIGN_IN_FAILURE_LIMIT attempts, no password is checked for that name (the
right one included) until the window ends. Counted in the cache (Redis when CACHE_URL names
it), so every web process counts together; user names are counted case-folded, whether an
account has the name or not. With the cache down, sign-in is not limited (a warning is logged)
rather than refused to everyone.

``SignInLimit`` is the first authentication backend: it counts and refuses, and never signs
anyone in; Django's ``ModelBackend``, after it, checks the password. Every form that checks a
password goes through both (the portal's, the browsable API's). Tokens and the identity
service's JWTs are not passwords and are not counted.
"""

import hashlib
import logging
import math
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

logger = logging.getLogger(__name__)


def _keys(username: str) -> tuple[str, str]:
    digest = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return f"hpml:sign-in:{digest}:attempts", f"hpml:sign-in:{digest}:since"


def _limited(username: str) -> bool:
    return settings.SIGN_IN_FAILURE_LIMIT > 0 and bool(username)


def _wait(since: float | None) -> int:
    start = time.time() if since is None else since
    return max(1, math.ceil(start + settings.SIGN_IN_LOCKOUT_SECONDS - time.time()))


def locked_for(username: str) -> int:
    """Seconds until a password for ``username`` is checked again (0: the next one is)."""
    if not _limited(username):
        return 0
    attempts_key, since_key = _keys(username)
    try:
        found = cache.get_many([attempts_key, since_key])
    except Exception:
        logger.warning("sign-in attempts not read: the cache cannot be reached")
        return 0
    if found.get(attempts_key, 0) < settings.SIGN_IN_FAILURE_LIMIT:
        return 0
    return _wait(found.get(since_key))


def attempt(username: str) -> int:
    """Count one attempt for ``username``: seconds it must wait (0: check its password)."""
    if not _limited(username):
        return 0
    attempts_key, since_key = _keys(username)
    window = settings.SIGN_IN_LOCKOUT_SECONDS
    try:
        cache.add(since_key, time.time(), window)
        cache.add(attempts_key, 0, window)
        count = cache.incr(attempts_key)
        if count <= settings.SIGN_IN_FAILURE_LIMIT:
            return 0
        return _wait(cache.get(since_key))
    except Exception:
        logger.warning("sign-in attempt not counted: the cache cannot be reached")
        return 0


def forget_attempts(username: str) -> None:
    if not _limited(username):
        return
    try:
        cache.delete_many(_keys(username))
    except Exception:
        logger.warning("sign-in attempts not cleared: the cache cannot be reached")


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return (
        "Too many failed sign-ins for this account. Try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''}."
    )


class SignInLimit:
    """Counts each password attempt and refuses those of a locked name; signs no one in."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None  # not a password sign-in
        wait = attempt(str(username))
        if wait:
            # Stops the backends after this one; Django sends user_login_failed (audited).
            raise PermissionDenied(lockout_message(wait))
        return None  # the next backend checks the password
