"""One media-stream websocket's outbound queue.

:class:`Outbox` decouples whoever produces frames (the paced playback, ``clear``, the close)
from the socket: :meth:`Outbox.put` never blocks, and one writer task (:meth:`Outbox.run`)
hands the frames to the ASGI ``send`` in order. The bytes waiting in the queue are the
equivalent of a browser websocket's ``bufferedAmount``: beyond ``limit`` the socket is closed
with 1013 "Backpressure: send buffer exceeded" (reference 5.1) instead of letting a stalled
peer hold an ever-growing queue, and the producer learns it from :class:`SendFailed`.

Resource handling: an :class:`Outbox` owns nothing but its queue. Its writer task belongs to
the connection's nursery (in :class:`~voicecall_cli.daemon.media.MediaStreams`); it returns
after sending the close frame, when the outbox is abandoned (the peer is gone) or when ``send``
fails. Cancelling it drops whatever is still queued.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import trio

logger = logging.getLogger("voicecall.media")

BACKPRESSURE_REASON = "Backpressure: send buffer exceeded"
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")


class SendFailed(Exception):
    """The frame was not queued: the socket is closing or gone (the message says why)."""


def sanitise_reason(reason: str, limit: int = 120) -> str:
    """A close reason fit for a log line: control characters to spaces, collapsed, truncated."""
    return " ".join(_CONTROL_CHARS.sub(" ", reason).split())[:limit]


class Outbox:
    """The frames waiting to be sent on one socket, in order, bounded by ``limit`` bytes."""

    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[None]], limit: int, *,
                 on_close: Callable[[], None] = lambda: None) -> None:
        self._send = send
        self._limit = limit
        self._on_close = on_close
        self._queue: deque[tuple[str, bool]] = deque()  # (text, droppable by clear)
        self._queued_bytes = 0
        self._wake = trio.Event()
        self._close: tuple[int, str] | None = None
        self._abandoned = False
        self.failure: str | None = None  # why put() refuses frames, once closing
        self.close_sent = False

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def put(self, text: str, *, droppable: bool = True) -> None:
        """Queue one text frame. Raises :class:`SendFailed` once the socket is closing, and when
        this frame takes the queue over the limit (the socket is then closed with 1013)."""
        if self.failure is not None:
            raise SendFailed(self.failure)
        self._queue.append((text, droppable))
        self._queued_bytes += len(text)
        if self._queued_bytes > self._limit:
            self.close(1013, BACKPRESSURE_REASON)
            raise SendFailed(BACKPRESSURE_REASON)
        self._wake.set()

    def drop_pending(self) -> None:
        """Forget the queued media and mark frames (barge-in: they must never reach the
        provider)."""
        kept = deque(item for item in self._queue if not item[1])
        self._queued_bytes = sum(len(text) for text, _ in kept)
        self._queue = kept

    def close(self, code: int, reason: str) -> None:
        """Close the socket: queued frames are dropped, the close frame is sent next and
        ``on_close`` is called (once)."""
        if self.failure is not None:
            return
        logger.info("closing media stream: %d %s", code, sanitise_reason(reason))
        self.failure = reason
        self._queue.clear()
        self._queued_bytes = 0
        self._close = (code, reason)
        self._wake.set()
        self._on_close()

    def abandon(self, reason: str) -> None:
        """The peer is gone: send nothing more and let the writer return."""
        if self.failure is None:
            self.failure = reason
        self._abandoned = True
        self._queue.clear()
        self._queued_bytes = 0
        self._wake.set()

    async def run(self) -> None:
        """The writer: send queued frames until the close frame went out or the peer is gone."""
        while True:
            if self._abandoned:
                return
            if self._queue:
                text, _ = self._queue.popleft()
                self._queued_bytes -= len(text)
                if not await self._deliver({"type": "websocket.send", "text": text}):
                    return
            elif self._close is not None:
                code, reason = self._close
                self.close_sent = await self._deliver(
                    {"type": "websocket.close", "code": code, "reason": reason})
                return
            else:
                self._wake = trio.Event()
                await self._wake.wait()

    async def _deliver(self, message: dict[str, Any]) -> bool:
        try:
            await self._send(message)
        except Exception as exc:  # the server's connection is unusable (closed, torn down)
            logger.info("media stream send failed: %r", exc)
            self.abandon(f"media stream send failed: {exc}")
            return False
        return True
