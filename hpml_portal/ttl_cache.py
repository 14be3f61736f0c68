"""Answers kept in this process's memory for a few seconds (SERVE_CACHE_SECONDS).

The serving path keeps what a request would otherwise read from the database on every call
(who a token is, which version an alias names). A kept answer is used until it is
``seconds`` old: a change made by another process (a revoked token, a promotion) reaches every
process within that delay, whatever made it (the API, the admin, a command, SQL). Changes made
in this process end every kept answer at once (:func:`expire_all`, called from signals).
"""

import threading
import time
from dataclasses import dataclass

_caches: list["TTLCache"] = []
_lock = threading.Lock()


@dataclass(slots=True)
class _Entry:
    value: object
    expires: float  # time.monotonic()
    epoch: int


class TTLCache:
    """A dict whose values are fresh for ``seconds`` (or until :meth:`expire`). Stale values
    stay readable, so a caller can keep serving one while it fetches the next."""

    def __init__(self, name: str, *, max_size: int = 10_000):
        self.name, self.max_size = name, max_size
        self._entries: dict = {}
        self._epoch = 0
        with _lock:
            _caches.append(self)

    def lookup(self, key) -> tuple[object, bool]:
        """(value, fresh); (None, False) when nothing is kept for ``key``."""
        entry = self._entries.get(key)
        if entry is None:
            return None, False
        return entry.value, entry.epoch == self._epoch and entry.expires > time.monotonic()

    def put(self, key, value, seconds: float) -> None:
        if len(self._entries) >= self.max_size and key not in self._entries:
            self._entries.clear()  # a flood of distinct keys (garbage tokens) starts over
        self._entries[key] = _Entry(value, time.monotonic() + seconds, self._epoch)

    def expire(self) -> None:
        """Make every kept value stale (still readable, never fresh again)."""
        self._epoch += 1

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def expire_all(**_signal_kwargs) -> None:
    """Expire every cache of this process: something they keep may have changed."""
    for cache in list(_caches):
        cache.expire()


def expire_soon(**_signal_kwargs) -> None:
    """Expire now, and again when the transaction under way commits: a request served
    meanwhile may have kept the state from before the commit."""
    from django.db import transaction

    expire_all()
    transaction.on_commit(expire_all)


def clear_all() -> None:
    for cache in list(_caches):
        cache.clear()
