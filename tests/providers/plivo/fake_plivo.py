"""A fake Plivo Voice API on 127.0.0.1 for the REST client's tests (a real HTTP server).

It checks HTTP Basic auth, records every request, and answers as Plivo's API does: ``POST
/Call/`` 201 ``{"api_id", "message": "call fired", "request_uuid"}``; a transfer (``POST
/Call/{uuid}/``) 202; ``DELETE /Call/{uuid}/`` and ``DELETE /Request/{uuid}/`` 204; ``GET
/Call/{uuid}/?status=live`` the live call, ``?status=queued`` a call not connected yet (by its
RequestUUID), ``GET /Call/{uuid}/`` its call detail record; 404
``{"api_id", "error": "not found"}`` for a call or request it does not know. A test scripts the
next answers (``fail_next``) and plays the carrier's side after a transfer (``on_transfer``).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import hypercorn.trio
import trio
from hypercorn.config import Config

from tests.asgi_fakes import header_map, read_body, serve_lifespan

Answer = tuple[int, Any]


@dataclass
class Recorded:
    method: str
    path: str  # below /v1/Account/{auth_id}, e.g. "/Call/" or "/Call/<uuid>/"
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # the JSON body, or None
    status: int = 0


@dataclass
class FakePlivo:
    auth_id: str
    auth_token: str
    nursery: trio.Nursery
    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    queued: set[str] = field(default_factory=set)  # RequestUUIDs not connected yet
    live: dict[str, dict[str, Any]] = field(default_factory=dict)  # CallUUID -> live details
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # CallUUID -> CDR
    scripted: list[Answer] = field(default_factory=list)
    create_answer: Callable[[str], Answer] | None = None
    on_transfer: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None

    # -- what the test drives ---------------------------------------------------------------

    def fail_next(self, status: int, body: Any) -> None:
        """The next request (whatever it is) gets this answer instead; a callable ``body``
        is called with the request (a server that echoes what it was sent)."""
        self.scripted.append((status, body))

    def connect(self, request_uuid: str, call_uuid: str) -> None:
        """The placed call rang and was answered: Plivo now knows it as ``call_uuid``."""
        self.queued.discard(request_uuid)
        self.live[call_uuid] = {"call_status": "in-progress", "call_uuid": call_uuid,
                                "request_uuid": request_uuid, "direction": "outbound"}

    def end(self, call_uuid: str, **record: Any) -> None:
        """The call is over on Plivo's side; ``record`` is its call detail record."""
        self.live.pop(call_uuid, None)
        self.records[call_uuid] = {"call_uuid": call_uuid, **record}

    def made(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]

    # -- the API ----------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        raw = await read_body(receive)
        headers = header_map(scope)
        prefix = f"/v1/Account/{self.auth_id}"
        path = scope["path"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        body = json.loads(raw) if raw.strip() else None
        recorded = Recorded(scope["method"], path.removeprefix(prefix), query, headers, body)
        self.requests.append(recorded)
        if self.scripted:
            status, answer = self.scripted.pop(0)
            if callable(answer):
                answer = answer(recorded)
        elif headers.get("authorization") != self._basic():
            status, answer = 401, {"api_id": _id(), "error": "authentication failed"}
        elif not path.startswith(prefix + "/"):
            status, answer = 404, {"api_id": _id(), "error": "not found"}
        else:
            status, answer = self._answer(recorded)
        recorded.status = status
        content = b"" if answer is None else (
            answer.encode() if isinstance(answer, str) else json.dumps(answer).encode())
        kind = b"text/plain" if isinstance(answer, str) else b"application/json"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", kind),
                                (b"content-length", str(len(content)).encode())]})
        await send({"type": "http.response.body", "body": content})

    def _basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.auth_id}:{self.auth_token}".encode()).decode()

    def _answer(self, r: Recorded) -> Answer:
        parts = [p for p in r.path.split("/") if p]
        not_found = (404, {"api_id": _id(), "error": "not found"})
        if r.method == "POST" and parts == ["Call"]:
            request_uuid = str(uuid.uuid4())
            if self.create_answer is not None:
                return self.create_answer(request_uuid)
            self.queued.add(request_uuid)
            return 201, {"api_id": _id(), "message": "call fired", "request_uuid": request_uuid}
        if len(parts) != 2 or not r.path.endswith("/"):
            return not_found
        resource, ident = parts
        if resource == "Call" and r.method == "POST":
            if ident not in self.live:
                return not_found
            if self.on_transfer is not None:
                self.nursery.start_soon(self.on_transfer, ident, r.body)
            return 202, {"api_id": _id(), "message": "call transferred"}
        if resource == "Call" and r.method == "DELETE":
            if self.live.pop(ident, None) is None:
                return not_found
            self.records[ident] = {"call_uuid": ident, "call_state": "ANSWER"}
            return 204, None
        if resource == "Request" and r.method == "DELETE":
            if ident not in self.queued:
                return not_found
            self.queued.discard(ident)
            return 204, None
        if resource == "Call" and r.method == "GET":
            if r.query.get("status") == "live":
                return (200, {"api_id": _id(), **self.live[ident]}) if ident in self.live \
                    else not_found
            if r.query.get("status") == "queued":
                return (200, {"api_id": _id(), "call_status": "queued", "request_uuid": ident,
                              "direction": "outbound"}) if ident in self.queued else not_found
            return (200, {"api_id": _id(), **self.records[ident]}) if ident in self.records \
                else not_found
        return 405, {"api_id": _id(), "error": "method not allowed"}


def _id() -> str:
    return str(uuid.uuid4())


@asynccontextmanager
async def run_fake_plivo(auth_id: str, auth_token: str) -> AsyncIterator[FakePlivo]:
    """Serve a :class:`FakePlivo` on 127.0.0.1 (a free port) until the block ends."""
    async with trio.open_nursery() as nursery:
        fake = FakePlivo(auth_id, auth_token, nursery)
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        binds = await nursery.start(partial(hypercorn.trio.serve, fake, config, mode="asgi"))
        fake.base_url = binds[0].rstrip("/")
        yield fake
        nursery.cancel_scope.cancel()
