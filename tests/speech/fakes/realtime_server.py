"""A local stand-in for OpenAI's Realtime transcription websocket, on trio-websocket.

It listens on 127.0.0.1, port 0, and behaves like ``/v1/realtime?intent=transcription``:
the handshake must carry ``Authorization: Bearer <api_key>`` and ``OpenAI-Beta:
realtime=v1`` (else HTTP 401/400 with an OpenAI-style JSON error body); an accepted socket gets
``transcription_session.created``, a ``transcription_session.update`` is recorded and answered
with ``transcription_session.updated``, and ``input_audio_buffer.append`` audio is decoded and
recorded. A test scripts the server side through :class:`RealtimeSession` (speech_started,
transcription deltas and completions, errors, dropping the socket) and can make the server
refuse handshakes (HTTP 503) to stand for an outage.

Resource handling: :func:`open_realtime_server` owns the listener and every connection; on
exit it cancels them all.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import trio
import trio_websocket

_ids = itertools.count(1)
L = TypeVar("L", bound="FakeListener")


def _event_id() -> str:
    return f"event_{next(_ids)}"


class Changes:
    """Wakes waiters whenever something was recorded."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = trio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._event.wait()


@dataclass
class RealtimeSession:
    """One accepted connection, as the server saw it."""

    ws: trio_websocket.WebSocketConnection
    headers: dict[str, str]
    changes: Changes
    session_updates: list[dict[str, Any]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    appends: int = 0
    other_messages: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    closed: trio.Event = field(default_factory=trio.Event)

    async def emit(self, event: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps({"event_id": _event_id(), **event}))

    async def emit_raw(self, text: str) -> None:
        """Send ``text`` as it is (a message that need not be JSON at all)."""
        await self.ws.send_message(text)

    async def speech_started(self, item_id: str = "item_1", audio_start_ms: int = 0) -> None:
        await self.emit({"type": "input_audio_buffer.speech_started",
                         "audio_start_ms": audio_start_ms, "item_id": item_id})

    async def delta(self, text: str, item_id: str = "item_1") -> None:
        await self.emit({"type": "conversation.item.input_audio_transcription.delta",
                         "item_id": item_id, "content_index": 0, "delta": text})

    async def completed(self, transcript: str, item_id: str = "item_1") -> None:
        await self.emit({"type": "conversation.item.input_audio_transcription.completed",
                         "item_id": item_id, "content_index": 0, "transcript": transcript})

    async def error(self, message: str, code: str = "invalid_value") -> None:
        await self.emit({"type": "error", "error": {"type": "invalid_request_error",
                                                    "code": code, "message": message,
                                                    "param": None, "event_id": None}})

    async def drop(self, code: int = 1011, reason: str = "server restarting") -> None:
        """Close the socket from the server side, as an unexpected close for the client."""
        await self.ws.aclose(code=code, reason=reason)

    async def wait_for_update(self) -> dict[str, Any]:
        await self.changes.wait_until(lambda: bool(self.session_updates))
        return self.session_updates[0]

    async def wait_for_audio(self, nbytes: int) -> bytes:
        await self.changes.wait_until(lambda: len(self.audio) >= nbytes)
        return bytes(self.audio)


class FakeListener:
    """What both fakes of the Realtime API record of their handshakes: ``rejections`` (arrival
    time and HTTP status of each refused one) and ``handshake_times``. Set ``refuse_status``
    to refuse every new handshake with that status until it is set back to None."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.rejections: list[tuple[float, int]] = []
        self.handshake_times: list[float] = []
        self.refuse_status: int | None = None
        self.changes = Changes()

    async def wait_for_rejections(self, count: int) -> None:
        await self.changes.wait_until(lambda: len(self.rejections) >= count)

    async def _reject(self, request: trio_websocket.WebSocketRequest, status: int,
                      message: str) -> None:
        self.rejections.append((trio.current_time(), status))
        self.changes.notify()
        body = json.dumps({"error": {"type": "invalid_request_error", "message": message}})
        await request.reject(status, extra_headers=[(b"Content-Type", b"application/json")],
                             body=body.encode())

    async def handle(self, request: trio_websocket.WebSocketRequest) -> None:
        raise NotImplementedError


@asynccontextmanager
async def serving(server: L) -> AsyncIterator[tuple[L, int]]:
    """Serve ``server.handle`` on 127.0.0.1 (port 0) until the block exits, which cancels the
    listener and every connection; yields the server and its port."""
    async with trio.open_nursery() as nursery:
        listener = await nursery.start(partial(
            trio_websocket.serve_websocket, server.handle, "127.0.0.1", 0, ssl_context=None,
            handler_nursery=nursery))
        yield server, listener.port
        nursery.cancel_scope.cancel()


class FakeRealtimeServer(FakeListener):
    """The transcription endpoint: accepted ``sessions`` in order, and what
    :class:`FakeListener` records."""

    def __init__(self, api_key: str) -> None:
        super().__init__(api_key)
        self.url = ""
        self.sessions: list[RealtimeSession] = []

    async def wait_for_session(self, number: int) -> RealtimeSession:
        """The ``number``-th accepted session (1-based), once it sent its session update."""
        await self.changes.wait_until(lambda: len(self.sessions) >= number)
        session = self.sessions[number - 1]
        await session.wait_for_update()
        return session

    async def handle(self, request: trio_websocket.WebSocketRequest) -> None:
        self.handshake_times.append(trio.current_time())
        headers = {name.decode().lower(): value.decode() for name, value in request.headers}
        if self.refuse_status is not None:
            return await self._reject(request, self.refuse_status, "Service unavailable")
        if request.path != "/v1/realtime?intent=transcription":
            return await self._reject(request, 400, f"Unexpected path {request.path}")
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return await self._reject(request, 401, "Incorrect API key provided")
        if headers.get("openai-beta") != "realtime=v1":
            return await self._reject(request, 400, "Missing OpenAI-Beta: realtime=v1")
        ws = await request.accept()
        session = RealtimeSession(ws=ws, headers=headers, changes=self.changes)
        self.sessions.append(session)
        self.changes.notify()
        try:
            await session.emit({"type": "transcription_session.created",
                                "session": {"id": "sess_fake", "object": "realtime.session"}})
            while True:
                message = json.loads(await ws.get_message())
                kind = message.get("type")
                if kind == "input_audio_buffer.append":
                    session.audio += base64.b64decode(message["audio"], validate=True)
                    session.appends += 1
                elif kind == "transcription_session.update":
                    session.session_updates.append(message)
                    await session.emit({"type": "transcription_session.updated",
                                        "session": message["session"]})
                else:
                    session.other_messages.append(message)
                self.changes.notify()
        except trio_websocket.ConnectionClosed as exc:
            session.close_code = exc.reason.code if exc.reason else None
        finally:
            session.closed.set()
            self.changes.notify()


@asynccontextmanager
async def open_realtime_server(api_key: str) -> AsyncIterator[FakeRealtimeServer]:
    """Serve on 127.0.0.1 (port 0) until the block exits; ``server.url`` is the ws:// URL."""
    async with serving(FakeRealtimeServer(api_key)) as (server, port):
        server.url = f"ws://127.0.0.1:{port}/v1/realtime?intent=transcription"
        yield server
