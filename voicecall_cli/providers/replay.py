"""The webhook replay cache (reference section 6.6): has this verified request been seen lately?

Pure and synchronous: the caller passes the time in. One cache per webhook server (that is, per
provider); the webhook server owns it and asks :meth:`ReplayCache.seen` once per verified
request, after verification and before any side effect.
"""

from __future__ import annotations

DEFAULT_WINDOW_MS = 600_000
DEFAULT_MAX_KEYS = 10_000
PRUNE_EVERY_MARKS = 64


class ReplayCache:
    """Remembers request keys for ``window_ms`` after their first sighting, at most ``max_keys``.

    A key seen again inside its window is a replay; the repeat does not extend the window. Keys
    are kept in first-sighting order, which (with a fixed window) is also expiry order, so pruning
    walks from the oldest end: expired keys every :data:`PRUNE_EVERY_MARKS` recorded sightings,
    and the oldest keys whenever the cache grows past ``max_keys``.
    """

    def __init__(self, window_ms: int = DEFAULT_WINDOW_MS, max_keys: int = DEFAULT_MAX_KEYS):
        if window_ms <= 0 or max_keys <= 0:
            raise ValueError("window_ms and max_keys must be positive")
        self.window_ms = window_ms
        self.max_keys = max_keys
        self._expiry_by_key: dict[str, int] = {}
        self._marks_since_prune = 0

    def __len__(self) -> int:
        return len(self._expiry_by_key)

    def seen(self, key: str, now_ms: int) -> bool:
        """True when ``key`` was first seen less than ``window_ms`` ago; else record it, False."""
        expiry = self._expiry_by_key.get(key)
        if expiry is not None:
            if now_ms < expiry:
                return True
            del self._expiry_by_key[key]  # expired: re-record at the young end
        self._expiry_by_key[key] = now_ms + self.window_ms
        self._marks_since_prune += 1
        if self._marks_since_prune >= PRUNE_EVERY_MARKS:
            self._marks_since_prune = 0
            self._prune_expired(now_ms)
        while len(self._expiry_by_key) > self.max_keys:
            del self._expiry_by_key[next(iter(self._expiry_by_key))]
        return False

    def forget(self, key: str) -> None:
        """Forget ``key`` (its delivery was refused, e.g. the store could not keep it): the
        carrier's retry of it is then not a replay."""
        self._expiry_by_key.pop(key, None)

    def _prune_expired(self, now_ms: int) -> None:
        keys = self._expiry_by_key
        while keys:
            oldest = next(iter(keys))
            if keys[oldest] > now_ms:
                return
            del keys[oldest]
