"""How every carrier simulator serves its fake REST API: the ASGI plumbing and the server.

:class:`RestApp` is the bare ASGI app a carrier's fake API subclasses: it answers hypercorn's
lifespan protocol, ignores anything but HTTP, reads one request (headers lower-cased, the body
capped at :data:`MAX_BODY`) into a :class:`Request`, asks the carrier's :meth:`RestApp.respond`
for a :class:`Response` and sends it with ``content-type`` and ``content-length``. Routing,
auth, parsing, error shapes and recording stay with the carrier.

:func:`serve_simulator` runs one: it opens the httpx client the simulator sends webhooks with
and the nursery its calls run in, builds the simulator from them, binds the listening socket
and starts hypercorn on the simulator's ``api``, sets ``base_url`` and yields the simulator.

Resource handling: :class:`RestApp` holds no resources. :func:`serve_simulator` owns the
listening socket (bound here, then handed to hypercorn, which owns it from there), hypercorn,
the httpx client and the nursery; on exit it cancels the nursery (hypercorn and every task the
simulator started in it stop where they are, pending webhooks are abandoned) and closes the
client.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

import httpx
import hypercorn.trio
import trio
from hypercorn.config import Config

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 1 << 20  # bytes of a request body kept; the rest is read and dropped


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as :class:`RestApp` read it: header names lower-cased (latin-1), the
    body cut at :data:`MAX_BODY`, ``query`` the raw query string (latin-1)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str = ""


@dataclass(frozen=True, slots=True)
class Response:
    """What a fake API answers: ``body`` is sent UTF-8 encoded with ``content-type`` and
    ``content-length``, then ``headers`` (extra ones, in order)."""

    status: int
    body: str
    content_type: str = "application/json"
    headers: tuple[tuple[bytes, bytes], ...] = ()


class RestApp:
    """A fake REST API as a bare ASGI callable; subclasses implement :meth:`respond`."""

    def respond(self, request: Request) -> Response:
        """Serve ``request`` (auth, routing, recording): the carrier's part."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request = Request(scope["method"], scope["path"], headers, await read_body(receive),
                          scope.get("query_string", b"").decode("latin-1"))
        response = self.respond(request)
        encoded = response.body.encode()
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(b"content-type", response.content_type.encode()),
                                (b"content-length", str(len(encoded)).encode()),
                                *response.headers]})
        await send({"type": "http.response.body", "body": encoded})


async def read_body(receive: Receive, limit: int = MAX_BODY) -> bytes:
    """The request body, read to its end; bytes past ``limit`` are dropped."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def serve_lifespan(receive: Receive, send: Send) -> None:
    """Answer hypercorn's lifespan protocol until shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class Served(Protocol):
    """What :func:`serve_simulator` serves: a simulator with its ASGI ``api`` and a
    ``base_url`` to fill in once the server listens."""

    base_url: str

    @property
    def api(self) -> AsgiApp: ...


S = TypeVar("S", bound=Served)


@asynccontextmanager
async def serve_simulator(build: Callable[[trio.Nursery, httpx.AsyncClient], S], *, host: str,
                          port: int, logger: logging.Logger) -> AsyncIterator[S]:
    """Build a simulator with ``build(nursery, http)`` and serve its ``api`` on ``host:port``
    (port 0: a free one; the simulator's ``base_url`` says which). hypercorn logs errors to
    ``logger`` and keeps no access log. A bind failure raises ``OSError`` before anything is
    yielded; see the module docstring for what exit closes.
    """
    async with (httpx.AsyncClient(trust_env=False) as http, trio.open_nursery() as nursery):
        simulator = build(nursery, http)
        config = Config()
        config.bind = [f"fd://{bound_socket(host, port).detach()}"]  # hypercorn owns it now
        config.accesslog = None
        config.errorlog = logger
        config.include_server_header = False
        binds = await nursery.start(partial(hypercorn.trio.serve, simulator.api, config,
                                            mode="asgi"))
        simulator.base_url = binds[0].rstrip("/")
        try:
            yield simulator
        finally:
            nursery.cancel_scope.cancel()


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (IPv6 when ``host`` has a colon; brackets allowed),
    not listening yet. The caller owns it; it is closed here only when binding fails."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    return sock
