"""A fake public edge: what a tunnel's or a proxy's public side does, on loopback.

The daemon under test reaches "the internet" through an HTTP proxy (``HTTPS_PROXY``, which its
HTTP client honours as every client does); this proxy answers ``CONNECT host:443`` for the
hosts it routes, terminates TLS with a certificate for that host signed by a test CA
(``trustme``; the daemon trusts it through ``SSL_CERT_FILE``) and pipes the decrypted bytes to
the route's loopback port, as ngrok's edge or Tailscale's funnel relay would. Unknown hosts get
``502``. :func:`run_edge` owns the listener and every connection; leaving it closes them all.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio
import trustme

MAX_HEAD = 8192


@dataclass
class Edge:
    """A running edge. ``routes`` maps a public host name to a loopback port; change it at
    any time. ``env(...)`` is what a process needs to go through it."""

    port: int
    ca_file: Path
    routes: dict[str, int] = field(default_factory=dict)
    connects: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {"HTTPS_PROXY": f"http://127.0.0.1:{self.port}",
                "https_proxy": f"http://127.0.0.1:{self.port}",
                "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1",
                "SSL_CERT_FILE": str(self.ca_file)}


@asynccontextmanager
async def run_edge(directory: Path, hosts: list[str]) -> AsyncIterator[Edge]:
    """An edge on ``127.0.0.1:<free port>`` serving certificates for ``hosts``."""
    ca = trustme.CA()
    ca_file = directory / "edge-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(server_context)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    edge = Edge(port=listeners[0].socket.getsockname()[1], ca_file=ca_file)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, _handler(edge, server_context), listeners)
        try:
            yield edge
        finally:
            nursery.cancel_scope.cancel()


def _handler(edge: Edge, context: ssl.SSLContext
             ) -> Callable[[trio.SocketStream], object]:
    async def handle(client: trio.SocketStream) -> None:
        async with client:
            head = await read_head(client)
            if head is None:
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, _, rest = request_line.partition(" ")
            authority = rest.split(" ", 1)[0]
            host = authority.rsplit(":", 1)[0]
            edge.connects.append(authority)
            port = edge.routes.get(host)
            if method != "CONNECT" or port is None:
                await client.send_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                return
            await client.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            tls = trio.SSLStream(client, context, server_side=True)
            try:
                upstream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                return
            async with upstream, trio.open_nursery() as nursery:
                nursery.start_soon(_pipe, tls, upstream, nursery.cancel_scope)
                nursery.start_soon(_pipe, upstream, tls, nursery.cancel_scope)

    return handle


async def read_head(stream: trio.SocketStream) -> bytes | None:
    """An HTTP request's head (up to the blank line, at most :data:`MAX_HEAD` bytes read),
    or None when the peer closes or takes over 10 s."""
    data = b""
    with trio.move_on_after(10):
        while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return None
            data += chunk
        return data
    return None


async def _pipe(source: trio.abc.Stream, sink: trio.abc.Stream,
                scope: trio.CancelScope) -> None:
    try:
        while chunk := await source.receive_some(65536):
            await sink.send_all(chunk)
    except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError):
        pass
    finally:
        scope.cancel()
