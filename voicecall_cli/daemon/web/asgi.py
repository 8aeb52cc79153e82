"""The webhook pipeline as an ASGI callable, for requests on connections served by hypercorn.

Most webhooks never come here: the lean HTTP/1.1 front (:mod:`.http1`) serves every plain
request on the webhook path itself and hands a connection to hypercorn only for what it does
not take (websocket upgrades, other paths, chunked bodies, ``Expect``, HTTP/1.0, ...). A
webhook on such a connection gets the same pipeline through this adapter.

The stalled-body limit (:class:`~.pipeline.InFlight`): body messages hypercorn has already
queued for the request are taken without waiting and without a slot; hypercorn queues what it
has read one scheduling round apart, so the reader gives it ``GRACE_ROUNDS`` rounds before the
request counts as stalled on the network and needs a slot. This needs the receive callable to
be a trio memory channel's ``receive`` (hypercorn's); with any other server every request
takes a slot before its body, as the reference does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from voicecall_cli.daemon.web.pipeline import (
    TIMEOUT,
    TOO_LARGE,
    Answer,
    Headers,
    Reject,
    RequestHead,
    WebhookPipeline,
    add_header,
)

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
GRACE_ROUNDS = 3


class _ClientGone(Exception):
    """The client disconnected before sending its whole body: nobody to answer."""


async def send_response(send: Send, status: int, headers: Headers, body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_answer(send: Send, answer: Answer) -> None:
    await send_response(send, answer.status, answer.headers, answer.body)


def head_from_scope(scope: Scope) -> RequestHead:
    client = scope.get("client")
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return RequestHead(method=scope["method"], path=scope["path"],
                       raw_path=raw_path.decode("latin-1"),
                       query_string=scope.get("query_string", b"").decode("latin-1"),
                       headers=header_map(scope["headers"]),
                       remote_addr=client[0] if client else None)


def header_map(raw_headers: Headers) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        add_header(headers, raw_name.decode("latin-1").lower(), raw_value.decode("latin-1"))
    return headers


class AsgiWebhook:
    """ASGI callable for the webhook path (the dispatcher routes to it)."""

    def __init__(self, pipeline: WebhookPipeline) -> None:
        self._pipeline = pipeline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = head_from_scope(scope)
        answer = self._pipeline.check_head(head)
        if answer is None:
            try:
                body = await self._read_body(head, receive)
            except _ClientGone:
                return
            except Reject as reject:
                answer = reject.answer
            else:
                answer = await self._pipeline.answer(head, body)
        await send_answer(send, answer)

    async def _read_body(self, head: RequestHead, receive: Receive) -> bytes:
        pipeline = self._pipeline
        if pipeline.declared_too_large(head):
            raise Reject(TOO_LARGE)
        receive_nowait = getattr(getattr(receive, "__self__", None), "receive_nowait", None)
        body = bytearray()
        with trio.move_on_after(pipeline.body_timeout_s):
            if receive_nowait is not None:
                for _ in range(GRACE_ROUNDS):
                    while True:
                        try:
                            message = receive_nowait()
                        except trio.WouldBlock:
                            break
                        if self._take(message, body):
                            return bytes(body)
                    await trio.lowlevel.checkpoint()
            with pipeline.in_flight.slot(head.remote_addr):
                while True:
                    if self._take(await receive(), body):
                        return bytes(body)
        raise Reject(TIMEOUT)

    def _take(self, message: dict[str, Any], body: bytearray) -> bool:
        """Add one body message to ``body``; True when it was the last."""
        if message["type"] == "http.disconnect":
            raise _ClientGone
        body += message.get("body", b"")
        if len(body) > self._pipeline.max_body:
            raise Reject(TOO_LARGE)
        return not message.get("more_body", False)


