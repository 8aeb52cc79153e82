"""The disconnect grace of the media endpoint (reference 5.2): when a call's current stream
ends, the call gets ``grace_s`` for a stream to start again before ``on_timeout(call id)``.

:class:`GraceTimers` keeps one timer per call; each runs as a task in the nursery given to
:meth:`GraceTimers.start` (the endpoint's) and ends when it fires or is cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

logger = logging.getLogger("voicecall.media")


class GraceTimers:
    """``has_stream(call id)`` is checked when a timer fires; ``notify(callback, *args)``
    calls ``on_timeout`` (the endpoint's, which logs what a callback raises)."""

    def __init__(self, grace_s: float, on_timeout: Callable[[str], None] | None,
                 has_stream: Callable[[str], bool],
                 notify: Callable[..., None]) -> None:
        self.grace_s = grace_s
        self._on_timeout = on_timeout
        self._has_stream = has_stream
        self._notify = notify
        self._timers: dict[str, trio.CancelScope] = {}

    def start(self, nursery: trio.Nursery | None, provider_call_id: str) -> None:
        """The call's current stream ended: its grace begins (nothing without a callback or
        once the endpoint stopped)."""
        if self._on_timeout is None or nursery is None:
            return
        scope = self._timers[provider_call_id] = trio.CancelScope()
        nursery.start_soon(self._run, provider_call_id, scope)

    def cancel(self, provider_call_id: str) -> None:
        """A stream for the call started again."""
        scope = self._timers.pop(provider_call_id, None)
        if scope is not None:
            scope.cancel()

    async def _run(self, provider_call_id: str, scope: trio.CancelScope) -> None:
        with scope:
            await trio.sleep(self.grace_s)
            if self._timers.get(provider_call_id) is scope:
                del self._timers[provider_call_id]
            if not self._has_stream(provider_call_id):
                logger.info("call %s: no media stream %gs after disconnect", provider_call_id,
                            self.grace_s)
                self._notify(self._on_timeout, provider_call_id)
