"""Tiny webhook servers standing in for the daemon in simulator and REST-client tests.

:class:`ReceiverBase` is the plumbing every carrier's receiver shares: it listens on 127.0.0.1
(port 0, see :func:`serve_receiver`), records each request as the subclass's
:meth:`~ReceiverBase.check` makes it (``received``), wakes :meth:`~ReceiverBase.wait_for`, then
sends the subclass's :meth:`~ReceiverBase.reply`.
Each carrier's checks are its own, made with an independent implementation (not the
simulator's): :class:`WebhookReceiver` checks every request's ``X-Twilio-Signature`` with the
twilio SDK's ``RequestValidator.validate`` and answers the TwiML the test's ``answer``
function returns (a bad signature gets 403 and no TwiML); Telnyx's is
:class:`tests.simulator.telnyx_fakes.TelnyxReceiver`.

Resource handling: :func:`serve_receiver` owns hypercorn and its nursery; leaving it cancels
them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl

import hypercorn.trio
import trio
from hypercorn.config import Config
from twilio.request_validator import RequestValidator

from tests.asgi_fakes import header_map, read_body, serve_lifespan

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'

R = TypeVar("R")
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, headers, body


class ReceiverBase(Generic[R]):
    """An ASGI webhook receiver; subclasses implement :meth:`check` and :meth:`reply`."""

    def __init__(self) -> None:
        self.received: list[R] = []
        self.base_url = ""  # set by serve_receiver
        self._changed = trio.Event()

    def url(self, path: str = "/voice/webhook") -> str:
        return self.base_url + path

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()

    def check(self, scope: dict[str, Any], headers: dict[str, str], body: bytes) -> R:
        """What one request is recorded as (signature checked)."""
        raise NotImplementedError

    def reply(self, received: R) -> Reply:
        """The answer to a request, once it is recorded."""
        raise NotImplementedError

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        headers = header_map(scope)
        body = await read_body(receive)
        received = self.check(scope, headers, body)
        self.received.append(received)
        self._changed.set()
        self._changed = trio.Event()
        status, reply_headers, reply = self.reply(received)
        await send({"type": "http.response.start", "status": status, "headers": reply_headers})
        await send({"type": "http.response.body", "body": reply})


ReceiverT = TypeVar("ReceiverT", bound=ReceiverBase[Any])


@asynccontextmanager
async def serve_receiver(receiver: ReceiverT) -> AsyncIterator[ReceiverT]:
    """Serve ``receiver`` on 127.0.0.1 (a free port; see its ``base_url``)."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(hypercorn.trio.serve, receiver, config, mode="asgi"))
        receiver.base_url = binds[0].rstrip("/")
        yield receiver
        nursery.cancel_scope.cancel()


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


class WebhookReceiver(ReceiverBase[Received]):
    """Twilio's webhooks: the SDK checks each signature; ``answer`` gives the TwiML."""

    def __init__(self, auth_token: str, answer: Answer) -> None:
        super().__init__()
        self._validator = RequestValidator(auth_token)
        self.answer = answer

    def check(self, scope: dict[str, Any], headers: dict[str, str], body: bytes) -> Received:
        query_string = scope["query_string"].decode()
        scheme = headers.get("x-forwarded-proto", "http")  # set by the simulator's tunnel stand-in
        url = f"{scheme}://{headers['host']}{scope['path']}"
        if query_string:
            url += "?" + query_string
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        valid = self._validator.validate(url, params, headers.get("x-twilio-signature", ""))
        return Received(url, scope["path"], dict(parse_qsl(query_string)), params, valid)

    def reply(self, received: Received) -> Reply:
        status, text = (200, self.answer(received)) if received.signature_valid else (
            403, "Forbidden")
        return status, [(b"content-type", b"application/xml")], text.encode()


@asynccontextmanager
async def run_webhook_receiver(auth_token: str,
                               answer: Answer = lambda _: EMPTY_TWIML,
                               ) -> AsyncIterator[WebhookReceiver]:
    async with serve_receiver(WebhookReceiver(auth_token, answer)) as receiver:
        yield receiver
