"""Request rates per identity, counted in the cache (Redis when CACHE_URL names it).

A fixed window per identity costs one cache round trip per request (on Redis: INCR and EXPIRE
in one script), whatever the rate, where DRF's SimpleRateThrottle reads and writes a list of
every request's time in the window.
"""

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpResponse
from redis.exceptions import NoScriptError
from rest_framework.throttling import BaseThrottle

from .rates import parse_rate

logger = logging.getLogger(__name__)


_INCR = "local n = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], ARGV[1]) return n"
_incr_loaded: set[int] = set()


def _incr_sha(client) -> str:
    """The count script's digest, loaded once per Redis connection pool."""
    pool = id(client.connection_pool)
    if pool not in _incr_loaded:
        client.script_load(_INCR)
        _incr_loaded.add(pool)
    return hashlib.sha1(_INCR.encode()).hexdigest()


class FixedWindowThrottle(BaseThrottle):
    scope = ""

    def __init__(self):
        self.retry_after: float | None = None

    def applies(self, request) -> bool:
        return True

    def allow_request(self, request, view) -> bool:
        limit = parse_rate(settings.THROTTLE_RATES.get(self.scope, ""))
        if limit is None or not self.applies(request):
            return True
        count, period = limit
        user = getattr(request, "user", None)
        ident = (
            f"u{user.pk}" if user is not None and user.is_authenticated else self.get_ident(request)
        )
        now = time.time()
        window = int(now // period)
        key = f"hpml:throttle:{self.scope}:{ident}:{window}"
        try:
            used = self._count(key, period)
        except Exception:  # the cache is down: serve rather than refuse everyone
            logger.warning("throttle %s not counted: the cache cannot be reached", self.scope)
            return True
        if used <= count:
            return True
        self.retry_after = (window + 1) * period - now
        return False

    @staticmethod
    def _count(key: str, period: int) -> int:
        store = caches["default"]
        if isinstance(store, RedisCache):  # one round trip: INCR, and the window's expiry
            full_key = store.make_and_validate_key(key)
            client = store._cache.get_client(full_key, write=True)
            try:
                return int(client.evalsha(_incr_sha(client), 1, full_key, period + 1))
            except NoScriptError:  # Redis restarted, and forgot it
                _incr_loaded.discard(id(client.connection_pool))
                return int(client.evalsha(_incr_sha(client), 1, full_key, period + 1))
        if cache.add(key, 1, timeout=period + 1):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # the window's key expired between add and incr
            cache.add(key, 1, timeout=period + 1)
            return 1

    def wait(self) -> float | None:
        return self.retry_after


def throttled_response(request) -> HttpResponse | None:
    """429 for a write in the portal over THROTTLE_SUBMIT_RATE: the admin's forms and actions
    count against the same budget as the API's writes."""
    if request.method != "POST":
        return None
    throttle = SubmitThrottle()
    if throttle.allow_request(request, None):
        return None
    response = HttpResponse(
        "Too many changes in a short time (THROTTLE_SUBMIT_RATE): wait a moment and retry.",
        status=429,
        content_type="text/plain",
    )
    response["Retry-After"] = str(int(throttle.wait() or 0) + 1)
    return response


class PredictThrottle(FixedWindowThrottle):
    """THROTTLE_PREDICT_RATE: predictions per identity."""

    scope = "predict"


class SubmitThrottle(FixedWindowThrottle):
    """THROTTLE_SUBMIT_RATE: writes (datasets, versions, runs, aliases, cancels) per identity.
    Reads are not counted."""

    scope = "submit"

    def applies(self, request) -> bool:
        return request.method not in ("GET", "HEAD", "OPTIONS")
