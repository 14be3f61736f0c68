"""Request rates per identity, counted in the cache (Redis when CACHE_URL names it).

A fixed window per identity. On Redis, a process takes a lease of requests from the window's
shared count (INCRBY and EXPIRE in one script call) and answers from it until it is used up:
a fiftieth of the limit, at most 100 and at least 1. A request costs a Redis round trip only
once per lease, and no more requests than the limit are answered across all processes; at
worst, what other processes hold in their leases at the window's end goes unused. DRF's
SimpleRateThrottle reads and writes a list of every request's time instead.
"""

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpResponse
from redis.exceptions import NoScriptError
from rest_framework.throttling import BaseThrottle

from .rates import parse_rate

logger = logging.getLogger(__name__)

_ADD = (
    "local n = redis.call('INCRBY', KEYS[1], ARGV[1]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[2]) return n"
)
_ADD_SHA = hashlib.sha1(_ADD.encode()).hexdigest()


@dataclass
class _Lease:
    window: int
    left: int = 0  # requests this process may still answer in the window


_leases: dict[str, _Lease] = {}
_leases_lock = threading.Lock()


def lease_size(limit: int) -> int:
    return max(1, min(limit // 50, 100))


def _add(store: RedisCache, key: str, amount: int, period: int) -> int:
    full_key = store.make_and_validate_key(key)
    client = store._cache.get_client(full_key, write=True)
    try:
        return int(client.evalsha(_ADD_SHA, 1, full_key, amount, period + 1))
    except NoScriptError:  # first use, or Redis restarted and forgot it
        client.script_load(_ADD)
        return int(client.evalsha(_ADD_SHA, 1, full_key, amount, period + 1))


def _allowed_shared(store: RedisCache, key: str, window: int, period: int, limit: int) -> bool:
    """Whether one more request fits in the window, counted across processes."""
    with _leases_lock:
        lease = _leases.get(key)
        if lease is None:
            _forget_old_windows(window)
            lease = _leases[key] = _Lease(window)
        if lease.left > 0:
            lease.left -= 1
            return True
    size = lease_size(limit)
    total = _add(store, key, size, period)
    granted = max(0, min(size, limit - (total - size)))
    if granted == 0:
        return False
    with _leases_lock:
        lease.left += granted - 1  # one is this request's
    return True


def _forget_old_windows(window: int) -> None:
    if len(_leases) > 1000:
        for key in [k for k, lease in _leases.items() if lease.window < window]:
            del _leases[key]


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
            allowed = self._allowed(key, window, period, count)
        except Exception:  # the cache is down: serve rather than refuse everyone
            logger.warning("throttle %s not counted: the cache cannot be reached", self.scope)
            return True
        if not allowed:
            self.retry_after = (window + 1) * period - now
        return allowed

    @staticmethod
    def _allowed(key: str, window: int, period: int, limit: int) -> bool:
        store = caches["default"]
        if isinstance(store, RedisCache):
            return _allowed_shared(store, key, window, period, limit)
        # A cache of this process only: counted one by one.
        if cache.add(key, 1, timeout=period + 1):
            return limit >= 1
        try:
            return cache.incr(key) <= limit
        except ValueError:  # the window's key expired between add and incr
            cache.add(key, 1, timeout=period + 1)
            return True

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
