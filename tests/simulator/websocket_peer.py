"""The app's side of a media stream, for the carrier media-stream tests: an independent
websocket server (trio-websocket's own) that records what the simulated carrier sends.

Resource handling: :func:`websocket_server` owns the listening socket and a nursery for the
connections; leaving it cancels them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio
import trio_websocket


class Peer:
    """What the app's side saw: the upgrade headers, every message with its arrival time;
    ``ws`` to talk back."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.received: list[tuple[float, dict]] = []
        self.ws: trio_websocket.WebSocketConnection | None = None
        self.connected = trio.Event()
        self.changed = trio.Event()

    async def wait_for(self, predicate: Callable[[list[tuple[float, dict]]], Any]) -> None:
        while not predicate(self.received):
            await self.changed.wait()

    def events(self) -> list[str]:
        return [m["event"] for _, m in self.received]

    def frames(self, event: str) -> list[dict]:
        return [m for _, m in self.received if m["event"] == event]

    async def send(self, message: dict) -> None:
        assert self.ws is not None
        await self.ws.send_message(json.dumps(message))


@asynccontextmanager
async def websocket_server() -> AsyncIterator[tuple[str, Peer]]:
    """Accept one stream at a time on 127.0.0.1; yields its ws:// URL and the :class:`Peer`."""
    peer = Peer()

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        peer.headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        peer.ws = await request.accept()
        peer.connected.set()
        try:
            while True:
                message = json.loads(await peer.ws.get_message())
                peer.received.append((trio.current_time(), message))
                peer.changed.set()
                peer.changed = trio.Event()
        except trio_websocket.ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(trio_websocket.serve_websocket, handler,
                                             "127.0.0.1", 0, ssl_context=None))
        yield f"ws://127.0.0.1:{server.port}/voice/stream", peer
        nursery.cancel_scope.cancel()
