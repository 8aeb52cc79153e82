"""A local stand-in for OpenAI's chat completions endpoint, speaking its streaming wire format.

``run_chat_server(api_key)`` serves ``POST /v1/chat/completions`` on 127.0.0.1 (port 0) with
hypercorn's trio worker and a plain ASGI callable, and yields a ``FakeChatServer`` whose
``base_url`` ("http://127.0.0.1:PORT/v1") a client is pointed at. What it does, like the real API:

* checks ``Authorization: Bearer <api_key>``; a wrong key gets 401 and OpenAI's error JSON, whose
  message echoes the presented key (the worst case for a client that repeats server text);
* answers ``stream: true`` requests with ``text/event-stream``: a first chunk carrying the
  assistant role, one ``chat.completion.chunk`` per scripted content piece, a last chunk with
  ``finish_reason: "stop"``, then ``data: [DONE]``, each as a ``data: <json>`` line and a
  blank line;
* can answer any scripted error status with the same error JSON shape.

The test scripts the reply through ``server.script`` (pieces, delays, status) and checks what
arrived in ``server.requests`` and when each piece left in ``server.sent_at`` (trio clock
times, taken just before the piece is handed to the transport, so a client can never have seen
a piece before its time). The nursery that runs the
server is owned by the context manager and cancelled when the ``async with`` block ends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import hypercorn.trio
import trio
from hypercorn.config import Config

from tests.asgi_fakes import header_map, read_body, serve_lifespan

CHAT_PATH = "/v1/chat/completions"


@dataclass
class ChatScript:
    """What the fake answers: content pieces streamed with pauses, or an error status."""

    pieces: list[str] = field(default_factory=lambda: ["Hello there."])
    delay_before_first_s: float = 0.0  # after the response headers, before the first piece
    delay_between_s: float = 0.0
    # when set, every reply waits for it before its first piece: a test decides when the model
    # "answers" instead of racing a delay
    release: trio.Event | None = None
    status: int = 200
    error_message: str = "The server had an error while processing your request."


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    authorization: str
    body: dict[str, Any]


class FakeChatServer:
    def __init__(self, api_key: str, script: ChatScript) -> None:
        self.api_key = api_key
        self.script = script
        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.sent_at: list[float] = []  # one trio time per content piece, in order

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        headers = header_map(scope)
        body = await read_body(receive)
        authorization = headers.get("authorization", "")
        request = RecordedRequest(scope["path"], authorization, json.loads(body or b"{}"))
        self.requests.append(request)
        if scope["method"] != "POST" or scope["path"] != CHAT_PATH:
            await _send_error(send, 404, f"Unknown request URL: {scope['method']} {scope['path']}",
                              "invalid_request_error", "unknown_url")
            return
        presented = authorization.removeprefix("Bearer ")
        if presented != self.api_key:
            await _send_error(send, 401, f"Incorrect API key provided: {presented}. You can find "
                              "your API key at https://platform.openai.com/account/api-keys.",
                              "invalid_request_error", "invalid_api_key")
            return
        if self.script.status != 200:
            await _send_error(send, self.script.status, self.script.error_message,
                              "server_error", None)
            return
        await self._stream_reply(send, request.body.get("model", ""))

    async def _stream_reply(self, send: Any, model: str) -> None:
        script = self.script
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream; charset=utf-8"),
                                (b"cache-control", b"no-cache")]})
        await _send_event(send, _chunk(model, {"role": "assistant", "content": ""}, None))
        await trio.sleep(script.delay_before_first_s)
        if script.release is not None:
            await script.release.wait()
        for index, piece in enumerate(script.pieces):
            if index:
                await trio.sleep(script.delay_between_s)
            self.sent_at.append(trio.current_time())
            await _send_event(send, _chunk(model, {"content": piece}, None))
        await _send_event(send, _chunk(model, {}, "stop"))
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {"id": "chatcmpl-fake0001", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish_reason}]}


async def _send_event(send: Any, payload: dict[str, Any]) -> None:
    line = f"data: {json.dumps(payload)}\n\n".encode()
    await send({"type": "http.response.body", "body": line, "more_body": True})


async def _send_error(send: Any, status: int, message: str, kind: str, code: str | None) -> None:
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body.encode()})


@asynccontextmanager
async def run_chat_server(api_key: str,
                          script: ChatScript | None = None) -> AsyncIterator[FakeChatServer]:
    server = FakeChatServer(api_key, script or ChatScript())
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(hypercorn.trio.serve, server, config, mode="asgi"))
        server.base_url = binds[0].rstrip("/") + "/v1"
        yield server
        nursery.cancel_scope.cancel()
