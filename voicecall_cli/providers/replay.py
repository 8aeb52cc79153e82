"""The webhook replay cache (reference section 6.6): has this verified request been seen lately,
and what was it answered?

Pure and synchronous: the caller passes the time in. One cache per webhook server (that is, per
provider); the webhook server owns it, asks :meth:`ReplayCache.seen` once per verified request,
after verification and before any side effect, and hands it the first delivery's answer
(:meth:`ReplayCache.keep`) so a replay is answered without being parsed again.
"""

from __future__ import annotations

from typing import Generic, TypeVar

DEFAULT_WINDOW_MS = 600_000
DEFAULT_MAX_KEYS = 10_000
#: What the kept answers may cost together (their callers' own estimate, see ``keep``): with
#: replies of a few hundred bytes (TwiML, JSON) 10,000 keys fit; bigger replies make the
#: oldest keys leave earlier, exactly as if ``max_keys`` were smaller.
DEFAULT_MAX_KEPT_BYTES = 16 * 1024 * 1024
PRUNE_EVERY_MARKS = 64

T = TypeVar("T")


class ReplayCache(Generic[T]):
    """Remembers request keys for ``window_ms`` after their first sighting, at most ``max_keys``,
    each with the answer its first delivery got once the caller :meth:`keep`\\ s it.

    A key seen again inside its window is a replay; the repeat does not extend the window. Keys
    are kept in first-sighting order, which (with a fixed window) is also expiry order, so pruning
    walks from the oldest end: expired keys every :data:`PRUNE_EVERY_MARKS` recorded sightings,
    and the oldest keys whenever the cache holds more than ``max_keys`` keys or more than
    ``max_kept_bytes`` of kept answers. A key and its answer always leave together, so a key
    that is still a replay still has its answer.
    """

    def __init__(self, window_ms: int = DEFAULT_WINDOW_MS, max_keys: int = DEFAULT_MAX_KEYS,
                 max_kept_bytes: int = DEFAULT_MAX_KEPT_BYTES) -> None:
        if window_ms <= 0 or max_keys <= 0 or max_kept_bytes <= 0:
            raise ValueError("window_ms, max_keys and max_kept_bytes must be positive")
        self.window_ms = window_ms
        self.max_keys = max_keys
        self.max_kept_bytes = max_kept_bytes
        self._expiry_by_key: dict[str, int] = {}
        self._kept: dict[str, tuple[T, int]] = {}  # key -> (answer, its cost in bytes)
        self._kept_bytes = 0
        self._marks_since_prune = 0

    def __len__(self) -> int:
        return len(self._expiry_by_key)

    @property
    def kept_bytes(self) -> int:
        """The summed cost of the answers kept now."""
        return self._kept_bytes

    def seen(self, key: str, now_ms: int) -> bool:
        """True when ``key`` was first seen less than ``window_ms`` ago; else record it, False."""
        expiry = self._expiry_by_key.get(key)
        if expiry is not None:
            if now_ms < expiry:
                return True
            self.forget(key)  # expired: re-record at the young end
        self._expiry_by_key[key] = now_ms + self.window_ms
        self._marks_since_prune += 1
        if self._marks_since_prune >= PRUNE_EVERY_MARKS:
            self._marks_since_prune = 0
            self._prune_expired(now_ms)
        while len(self._expiry_by_key) > self.max_keys:
            self.forget(next(iter(self._expiry_by_key)))
        return False

    def keep(self, key: str, answer: T, cost: int) -> None:
        """Remember ``answer`` as what ``key``'s first delivery got, for as long as ``key`` is
        remembered; ``cost`` is the caller's estimate of its size in bytes. Nothing happens
        when ``key`` is not remembered (any more)."""
        if key not in self._expiry_by_key:
            return
        previous = self._kept.pop(key, None)
        if previous is not None:
            self._kept_bytes -= previous[1]
        self._kept[key] = (answer, cost)
        self._kept_bytes += cost
        while self._kept_bytes > self.max_kept_bytes and self._expiry_by_key:
            self.forget(next(iter(self._expiry_by_key)))

    def kept(self, key: str) -> T | None:
        """The answer kept for ``key``, or None."""
        entry = self._kept.get(key)
        return None if entry is None else entry[0]

    def forget(self, key: str) -> None:
        """Forget ``key`` and its answer (its delivery was refused, e.g. the store could not
        keep it): the carrier's retry of it is then not a replay."""
        self._expiry_by_key.pop(key, None)
        entry = self._kept.pop(key, None)
        if entry is not None:
            self._kept_bytes -= entry[1]

    def _prune_expired(self, now_ms: int) -> None:
        keys = self._expiry_by_key
        while keys:
            oldest = next(iter(keys))
            if keys[oldest] > now_ms:
                return
            self.forget(oldest)
