"""A carrier API that only tells the time: every request gets ``401`` with a ``Date`` header
``offset_s`` away from this machine's clock, as ``api.twilio.com`` answers an unauthenticated
``GET /``. ``doctor`` reads the carrier's clock that way. :func:`run_api_clock` owns the
listener; leaving it closes everything."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from tests.fakes.edge import read_head


@asynccontextmanager
async def run_api_clock(offset_s: float = 0.0) -> AsyncIterator[str]:
    """Yields the API's base URL (``http://127.0.0.1:<port>``)."""

    async def handle(stream: trio.SocketStream) -> None:
        async with stream:
            if await read_head(stream) is None:
                return
            date = email.utils.formatdate(time.time() + offset_s, usegmt=True)
            await stream.send_all(
                f"HTTP/1.1 401 Unauthorized\r\nDate: {date}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode())

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            nursery.cancel_scope.cancel()
