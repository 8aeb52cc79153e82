"""One websocket as ``MediaStreams.asgi`` sees it, with the test as the carrier's side.

The media endpoint tests each speak a carrier's framing (Twilio, Telnyx, Plivo, an invented
one) over the same fake: the peer pushes JSON text frames (:meth:`AsgiWebsocket.push`), and
everything the app sends is recorded: text frames as (trio time, decoded JSON) in ``frames``,
the accept (or the HTTP status it was refused with), the close code and reason. The upgrade
request carries ``Host: voice.example.com`` and a valid ``Sec-WebSocket-Key`` before the given
headers. A carrier's peer subclasses it and overrides
:meth:`AsgiWebsocket.on_frame` to answer what the app sends (echo a mark, say).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import trio


class AsgiWebsocket:
    """A fake websocket for ``MediaStreams.asgi(scope, receive, send)`` (module docstring).

    ``stall``: while set to an unset Event, ``send`` blocks (a peer that stopped reading)."""

    def __init__(self, *, client_ip: str = "203.0.113.5", path: str = "/voice/stream",
                 headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self._to_app, self._app_inbox = trio.open_memory_channel(math.inf)
        self.scope = {"type": "websocket", "path": path, "query_string": b"",
                      "client": (client_ip, 40000),
                      "headers": [(b"host", b"voice.example.com"),
                                  (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
                                  *headers],
                      "extensions": {"websocket.http.response": {}}}
        self.frames: list[tuple[float, dict]] = []  # decoded text frames the app sent
        self.accepted = False
        self.refused: int | None = None
        self.close: tuple[int, str] | None = None
        self.closed = trio.Event()
        self.stall: trio.Event | None = None
        self._to_app.send_nowait({"type": "websocket.connect"})

    async def receive(self) -> dict:
        return await self._app_inbox.receive()

    async def send(self, message: dict) -> None:
        if self.stall is not None:
            await self.stall.wait()
        if message["type"] == "websocket.http.response.start":
            self.refused = message["status"]  # answered with HTTP instead of the upgrade
            self.closed.set()
        elif message["type"] == "websocket.accept":
            self.accepted = True
        elif message["type"] == "websocket.close":
            self.close = (message["code"], message.get("reason", ""))
            self.closed.set()
        elif message["type"] == "websocket.send":
            frame = json.loads(message["text"])
            self.frames.append((trio.current_time(), frame))
            self.on_frame(frame)

    def on_frame(self, frame: dict) -> None:
        """A frame the app sent, just recorded: the peer's chance to answer it."""

    def push(self, message: dict) -> None:
        self._to_app.send_nowait({"type": "websocket.receive", "text": json.dumps(message)})

    def push_raw(self, frame: str | bytes) -> None:
        """A frame as is: a text frame for ``str``, a binary frame for ``bytes``."""
        key = "text" if isinstance(frame, str) else "bytes"
        self._to_app.send_nowait({"type": "websocket.receive", key: frame})
