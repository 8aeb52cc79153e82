"""A tiny webhook server standing in for the daemon in simulator and REST-client tests.

It listens on 127.0.0.1 (port 0), checks every request's ``X-Twilio-Signature`` with the twilio
SDK's ``RequestValidator.validate`` (an independent check of the simulator's signing), records
what arrived and answers the TwiML that the test's ``answer`` function returns. A request with a
bad signature gets 403 and no TwiML.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import hypercorn.trio
import trio
from hypercorn.config import Config
from twilio.request_validator import RequestValidator

from tests.asgi_fakes import header_map, read_body, serve_lifespan

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


@dataclass(frozen=True)
class Received:
    url: str
    path: str
    query: dict[str, str]
    params: dict[str, str]
    signature_valid: bool

    @property
    def is_status_callback(self) -> bool:
        return self.query.get("type") == "status"


Answer = Callable[[Received], str]


class WebhookReceiver:
    def __init__(self, auth_token: str, answer: Answer) -> None:
        self._validator = RequestValidator(auth_token)
        self.answer = answer
        self.received: list[Received] = []
        self.base_url = ""
        self._changed = trio.Event()

    def url(self, path: str = "/voice/webhook") -> str:
        return self.base_url + path

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        headers = header_map(scope)
        body = await read_body(receive)
        query_string = scope["query_string"].decode()
        scheme = headers.get("x-forwarded-proto", "http")  # set by the simulator's tunnel stand-in
        url = f"{scheme}://{headers['host']}{scope['path']}"
        if query_string:
            url += "?" + query_string
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        valid = self._validator.validate(url, params, headers.get("x-twilio-signature", ""))
        received = Received(url, scope["path"], dict(parse_qsl(query_string)), params, valid)
        self.received.append(received)
        self._changed.set()
        self._changed = trio.Event()
        status, reply = (200, self.answer(received)) if valid else (403, "Forbidden")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/xml")]})
        await send({"type": "http.response.body", "body": reply.encode()})


@asynccontextmanager
async def run_webhook_receiver(auth_token: str,
                               answer: Answer = lambda _: EMPTY_TWIML,
                               ) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(auth_token, answer)
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(hypercorn.trio.serve, receiver, config, mode="asgi"))
        receiver.base_url = binds[0].rstrip("/")
        yield receiver
        nursery.cancel_scope.cancel()
