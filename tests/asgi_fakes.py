"""The ASGI plumbing the tests' local fake servers share (Twilio webhook receiver, OpenAI chat
and speech, ElevenLabs speech): lifespan, headers and the request body."""

from __future__ import annotations

from typing import Any


async def serve_lifespan(receive: Any, send: Any) -> None:
    """Answer hypercorn's lifespan protocol until shutdown."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


def header_map(scope: dict[str, Any]) -> dict[str, str]:
    """The request's headers, names lower-cased."""
    return {k.decode().lower(): v.decode() for k, v in scope["headers"]}


async def read_body(receive: Any) -> bytes:
    """The whole request body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
