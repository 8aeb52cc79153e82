"""The mock carrier's wire, made observable: a recording relay in front of the daemon's webhook.

The mock carrier runs inside the daemon and POSTs its callee's events to the webhook URL the
daemon hands it (``publicUrl`` when configured). Pointing ``publicUrl`` at this relay puts the
test between the mock carrier and the daemon, as a tunnel would be: every mock webhook is
recorded byte for byte (with the daemon's answer) and forwarded unchanged to the daemon's own
listening URL. Inbound calls the test places go through it too, so the relay holds the whole
carrier-side story of a call: its events, the hang-ups the daemon asked for (the mock reports
each as a ``call.ended`` webhook) and the exact bytes a replay test re-sends.

Resource handling: :func:`run_mock_tap` owns the listening socket, hypercorn and one httpx
client; leaving it closes them. While the daemon is down (``target`` unset or refusing),
requests get 502 and are recorded with that status.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx
import hypercorn.trio
import trio
from hypercorn.config import Config

from tests.asgi_fakes import header_map, read_body, serve_lifespan

HOP_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})


@dataclass(frozen=True, slots=True)
class TapRecord:
    """One webhook as it crossed the relay: what the carrier sent, what the daemon answered."""

    path: str  # path and query, as requested
    headers: dict[str, str]
    body: bytes
    status: int  # the daemon's answer (502: not delivered)
    response: bytes = b""

    @property
    def events(self) -> list[dict[str, Any]]:
        """The mock events in the body (``{"event": ...}`` or ``{"events": [...]}``)."""
        try:
            document = json.loads(self.body)
        except ValueError:
            return []
        if not isinstance(document, dict):
            return []
        events = document.get("events", [document.get("event")])
        return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


@dataclass
class MockTap:
    """The relay's state: ``records`` in arrival order; ``target`` is the daemon's local webhook
    origin (``http://127.0.0.1:PORT``), set whenever a daemon (re)starts."""

    http: httpx.AsyncClient
    base_url: str = ""
    target: str | None = None
    records: list[TapRecord] = field(default_factory=list)

    def events(self, provider_call_id: str | None = None) -> list[dict[str, Any]]:
        """Every event the carrier side sent (of one provider call id when given)."""
        return [e for r in self.records for e in r.events
                if provider_call_id is None or provider_call_id in (e.get("providerCallId"),
                                                                    e.get("callId"))]

    async def post(self, path: str, body: bytes) -> TapRecord:
        """Send a mock webhook through the relay (as the mock carrier would)."""
        response = await self.http.post(self.base_url + path, content=body,
                                        headers={"content-type": "application/json"})
        assert response.status_code < 300, (response.status_code, response.text)
        return self.records[-1]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        body = await read_body(receive)
        headers = header_map(scope)
        path = scope["path"] + (("?" + scope["query_string"].decode())
                                if scope["query_string"] else "")
        status, answer, answer_type = 502, b"daemon not reachable", "text/plain"
        if self.target is not None:
            try:
                response = await self.http.request(
                    scope["method"], self.target + path, content=body,
                    headers={k: v for k, v in headers.items() if k not in HOP_HEADERS})
                status, answer = response.status_code, response.content
                answer_type = response.headers.get("content-type", "text/plain")
            except httpx.HTTPError:
                pass
        self.records.append(TapRecord(path, headers, body, status, answer))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", answer_type.encode()),
                                (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


@asynccontextmanager
async def run_mock_tap() -> AsyncIterator[MockTap]:
    """Serve the relay on a free loopback port (see ``MockTap.base_url``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = None
    async with (httpx.AsyncClient(trust_env=False, timeout=10) as http,
                trio.open_nursery() as nursery):
        tap = MockTap(http)
        binds = await nursery.start(partial(hypercorn.trio.serve, tap, config, mode="asgi"))
        tap.base_url = binds[0].rstrip("/")
        try:
            yield tap
        finally:
            nursery.cancel_scope.cancel()


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
