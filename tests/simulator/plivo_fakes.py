"""What the fake-Plivo tests share: an app server that serves scripted Plivo XML and checks
every request's signatures with the plivo SDK's own validators (``validate_v3_signature`` for
V3, ``validate_signature`` for V2: an independent check of the simulator's signing), the
simulator served next to it with an httpx client for its REST API (:func:`fake_plivo`), and
the REST calls the tests make (:func:`dial`).

Resource handling: :func:`fake_plivo` owns the app server, the simulator and the client;
leaving it closes all three (the app server last).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
from plivo.utils import validate_signature
from plivo.utils.signature_v3 import validate_v3_signature

from tests.simulator.webhook_receiver import ReceiverBase, Reply, serve_receiver
from voicecall_cli.simulator.plivo.simulator import (
    CalleeScript,
    PlivoSimulator,
    run_plivo_simulator,
)

AUTH_ID = "MAODU1ZJYTNMZJM0ZWVH"
AUTH_TOKEN = "ZjE5OTk0YzY1ZmJkMGUxNDE4MmFjYjg3ZTk4ZTk4"
CALLEE_NUMBER = "14155550100"
OUR_NUMBER = "14155550199"
TIME_FACTOR = 0.01  # <Wait length="100"> takes one second
EMPTY = "<Response/>"
KEEP_ALIVE = '<Response><Wait length="300"/></Response>'


@dataclass(frozen=True)
class PlivoReceived:
    """One request the app got: ``params`` are the form (POST) or the query (GET)."""

    method: str
    url: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    v3_valid: bool
    v2_valid: bool

    @property
    def signature_valid(self) -> bool:
        return self.v3_valid and self.v2_valid

    @property
    def event(self) -> str | None:
        return self.params.get("Event")


Route = str | Callable[[PlivoReceived], str]


class PlivoApp(ReceiverBase[PlivoReceived]):
    """Serves ``routes[path]`` (XML, or a function of the request giving it; other paths get
    an empty ``<Response/>``) as ``text/xml``; a request with a bad signature gets 401."""

    def __init__(self, auth_token: str, routes: Mapping[str, Route] | None = None) -> None:
        super().__init__()
        self.auth_token = auth_token
        self.routes: dict[str, Route] = dict(routes or {})
        self.status: Callable[[PlivoReceived], int] = lambda _: 200

    def events(self, path: str | None = None) -> list[str | None]:
        return [r.event for r in self.received if path is None or r.path == path]

    def on(self, path: str) -> list[PlivoReceived]:
        return [r for r in self.received if r.path == path]

    def check(self, scope: dict[str, Any], headers: dict[str, str],
              body: bytes) -> PlivoReceived:
        query = scope["query_string"].decode()
        scheme = headers.get("x-forwarded-proto", "http")
        url = f"{scheme}://{headers['host']}{scope['path']}" + (f"?{query}" if query else "")
        method = scope["method"]
        params = dict(parse_qsl(body.decode() if method == "POST" else query,
                                keep_blank_values=True))
        try:
            v3 = validate_v3_signature(
                method, url, headers["x-plivo-signature-v3-nonce"], self.auth_token,
                headers["x-plivo-signature-v3"], dict(params) if method == "POST" else None)
            v2 = validate_signature(url, headers["x-plivo-signature-v2-nonce"],
                                    headers["x-plivo-signature-v2"], self.auth_token)
        except KeyError:
            v3 = v2 = False
        return PlivoReceived(method, url, scope["path"], params, headers, v3, v2)

    def reply(self, received: PlivoReceived) -> Reply:
        if not received.signature_valid:
            return 401, [], b"bad signature"
        route = self.routes.get(received.path, EMPTY)
        text = route(received) if callable(route) else route
        return self.status(received), [(b"content-type", b"text/xml")], text.encode()


@asynccontextmanager
async def fake_plivo(routes: Mapping[str, Route] | None = None,
                     callee: CalleeScript | None = None,
                     ) -> AsyncIterator[tuple[PlivoSimulator, PlivoApp, httpx.AsyncClient]]:
    async with (serve_receiver(PlivoApp(AUTH_TOKEN, routes)) as app,
                run_plivo_simulator(auth_id=AUTH_ID, auth_token=AUTH_TOKEN, callee=callee,
                                    time_factor=TIME_FACTOR) as sim,
                httpx.AsyncClient(base_url=f"{sim.base_url}/v1/Account/{AUTH_ID}",
                                  auth=(AUTH_ID, AUTH_TOKEN), trust_env=False) as api):
        sim.retry_delay_s = 0.02
        sim.answer_url, sim.hangup_url = app.url("/answer"), app.url("/hangup")
        yield sim, app, api


async def dial(api: httpx.AsyncClient, app: PlivoApp, **extra: Any) -> str:
    """Place a call as a client would (JSON body); returns its request uuid."""
    body = {"from": "+" + OUR_NUMBER, "to": CALLEE_NUMBER, "answer_url": app.url("/answer"),
            "answer_method": "POST", "ring_url": app.url("/ring"),
            "hangup_url": app.url("/hangup"), "ring_timeout": 30, **extra}
    response = await api.post("/Call/", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["message"] == "call fired" and data["api_id"]
    return data["request_uuid"]


async def answered_call(sim: PlivoSimulator, api: httpx.AsyncClient, app: PlivoApp,
                        **extra: Any) -> str:
    """Dial and wait until the callee answered; returns the CallUUID."""
    request_uuid = await dial(api, app, **extra)
    call = await sim.wait_for_status(request_uuid, "in-progress")
    return call.call_uuid
