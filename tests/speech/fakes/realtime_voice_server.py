"""A local stand-in for OpenAI's Realtime speech-to-speech websocket (GA protocol), on
trio-websocket, for the realtime voice tests (one socket per phone call).

It listens on 127.0.0.1, port 0, and behaves like ``/v1/realtime?model=<model>``: the
handshake must carry ``Authorization: Bearer <api_key>`` (else HTTP 401 with an OpenAI-style
JSON error body; a wrong path is 400); ``refuse_status`` refuses every handshake with that
status and ``refuse_next`` refuses the next N with 503. An accepted socket gets
``session.created``; every client event is recorded (with its arrival time) and answered as
the API does: ``session.update`` -> ``session.updated``, ``response.create`` -> a streamed
response (audio deltas of a tone interleaved with transcript deltas, then ``response.done``),
``response.cancel``, ``conversation.item.truncate`` and ``conversation.item.create``. Appended
audio feeds an energy VAD (``realtime_voice_audio.EnergyVad``) that emits speech_started,
speech_stopped, committed and then the transcription of the next ``heard`` line. What the fake
says and does is scripted per :class:`VoiceSession` (replies, heard, tool calls, failures,
errors, drops), with server-level defaults copied into each new session. The connection lives
in ``realtime_voice_session``, response streaming in ``realtime_voice_respond``, the tone,
transcript pieces and VAD in ``realtime_voice_audio``.

Resource handling: :func:`open_realtime_voice_server` owns the listener and every connection.
Each connection owns a nursery for its background work (streaming responses, delayed
transcriptions); those tasks end when the socket closes, and everything is cancelled when the
``async with`` block exits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import trio
import trio_websocket

from tests.speech.fakes.realtime_server import FakeListener, serving
from tests.speech.fakes.realtime_voice_respond import ResponseRecord
from tests.speech.fakes.realtime_voice_session import VoiceSession

__all__ = ["FakeRealtimeVoiceServer", "ResponseRecord", "VoiceSession",
           "open_realtime_voice_server"]

DEFAULT_MODEL = "gpt-realtime"
DEFAULT_REPLIES = ("Sure, I can help with that.",)
DEFAULT_HEARD = ("Hello, is this about my appointment?",)


class FakeRealtimeVoiceServer(FakeListener):
    """The listener's record: accepted ``sessions`` in order, ``rejections`` as ``(trio time,
    HTTP status)``, every handshake's time and request path. ``replies``, ``heard``,
    ``reply_ms``, ``delta_ms``, ``delta_interval_s`` and ``transcribe_delay_s`` are the
    defaults copied into each new session. ``refuse_status`` refuses every handshake with
    that status until set back to None; ``refuse_next`` refuses that many more with 503."""

    def __init__(self, api_key: str) -> None:
        super().__init__(api_key)
        self.base_url = ""  # ws://127.0.0.1:<port>/v1/realtime
        self.url = ""  # base_url?model=gpt-realtime
        self.sessions: list[VoiceSession] = []
        self.paths: list[str] = []
        self.refuse_next = 0
        self.replies = list(DEFAULT_REPLIES)
        self.heard = list(DEFAULT_HEARD)
        self.reply_ms = 600
        self.delta_ms = 100
        self.delta_interval_s = 0.02
        self.transcribe_delay_s = 0.05
        self._counters: dict[str, int] = {}

    def new_id(self, prefix: str) -> str:
        """``<prefix>_<n>``, unique on this server."""
        self._counters[prefix] = number = self._counters.get(prefix, 0) + 1
        return f"{prefix}_{number}"

    async def wait_for_session(self, number: int) -> VoiceSession:
        """The ``number``-th accepted session (1-based), once it sent its session.update."""
        await self.changes.wait_until(lambda: len(self.sessions) >= number)
        session = self.sessions[number - 1]
        await session.wait_for_update()
        return session

    async def drop_all(self, code: int = 1011) -> None:
        """Close every open session from the server side."""
        for session in self.sessions:
            if not session.closed.is_set():
                await session.drop(code)

    async def handle(self, request: trio_websocket.WebSocketRequest) -> None:
        self.handshake_times.append(trio.current_time())
        self.paths.append(request.path)
        headers = {name.decode().lower(): value.decode() for name, value in request.headers}
        target = urlsplit(request.path)
        model = parse_qs(target.query).get("model", [""])[0]
        if self.refuse_status is not None:
            return await self._reject(request, self.refuse_status, "Service unavailable")
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return await self._reject(request, 503, "Service unavailable")
        if target.path != "/v1/realtime" or not model:
            return await self._reject(request, 400, f"Unexpected path {request.path}")
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return await self._reject(request, 401, "Incorrect API key provided")
        session = VoiceSession(
            server=self, ws=await request.accept(), headers=headers, path=request.path,
            model=model, replies=list(self.replies), heard=list(self.heard),
            reply_ms=self.reply_ms, delta_ms=self.delta_ms,
            delta_interval_s=self.delta_interval_s, transcribe_delay_s=self.transcribe_delay_s)
        self.sessions.append(session)
        self.changes.notify()
        await session.run()


@asynccontextmanager
async def open_realtime_voice_server(api_key: str) -> AsyncIterator[FakeRealtimeVoiceServer]:
    """Serve on 127.0.0.1 (port 0) until the block exits; ``server.url`` is the ws:// URL
    with ``?model=gpt-realtime``, ``server.base_url`` the same without the query."""
    async with serving(FakeRealtimeVoiceServer(api_key)) as (server, port):
        server.base_url = f"ws://127.0.0.1:{port}/v1/realtime"
        server.url = f"{server.base_url}?model={DEFAULT_MODEL}"
        yield server
