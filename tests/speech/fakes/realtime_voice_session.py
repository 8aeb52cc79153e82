"""One connection of the fake OpenAI Realtime voice server (``realtime_voice_server``).

:class:`VoiceSession` receives and records the client's events and answers them as the API
does; appended audio feeds an energy VAD whose turns end in committed and a transcription of
the next ``heard`` line; ``response.create`` starts :func:`stream_response` in the session's
nursery. Tests script it through its public methods (speech events, transcriptions, tool
calls, failures, errors, drops) and wait on what it recorded through its server's Changes.

Resource handling: :meth:`VoiceSession.run` owns a nursery for the connection's background
work (streaming responses, delayed transcriptions); a closed socket ends the receive loop,
which records the close code and cancels that nursery. The server owns the socket itself.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio
import trio_websocket

from tests.speech.fakes.realtime_server import Changes
from tests.speech.fakes.realtime_voice_audio import (
    BYTES_PER_MS,
    EnergyVad,
    say_text,
    transcript_pieces,
)
from tests.speech.fakes.realtime_voice_respond import (
    Failure,
    ResponseRecord,
    ToolCall,
    stream_response,
)

if TYPE_CHECKING:
    from tests.speech.fakes.realtime_voice_server import FakeRealtimeVoiceServer

Event = dict[str, Any]


@dataclass(eq=False)
class VoiceSession:
    """One accepted connection: what arrived (``received`` holds every client event as
    ``(trio time, event)``; ``updates`` the session objects of the session.update events),
    what was ``sent``, and the script. ``replies``, ``heard``, ``reply_ms``, ``delta_ms``,
    ``delta_interval_s`` and ``transcribe_delay_s`` may be changed while it runs."""

    server: FakeRealtimeVoiceServer
    ws: trio_websocket.WebSocketConnection
    headers: dict[str, str]
    path: str
    model: str
    replies: list[str]
    heard: list[str]
    reply_ms: int
    delta_ms: int
    delta_interval_s: float
    transcribe_delay_s: float
    received: list[tuple[float, Event]] = field(default_factory=list)
    updates: list[Event] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    appends: int = 0
    responses: list[ResponseRecord] = field(default_factory=list)
    truncates: list[Event] = field(default_factory=list)
    items_created: list[Event] = field(default_factory=list)  # the items, with their ids
    other: list[Event] = field(default_factory=list)
    sent: list[Event] = field(default_factory=list)
    close_code: int | None = None
    closed: trio.Event = field(default_factory=trio.Event)
    _nursery: trio.Nursery | None = field(default=None, repr=False)
    _vad: EnergyVad = field(default_factory=EnergyVad, repr=False)
    _active: ResponseRecord | None = field(default=None, repr=False)
    _script: list[ToolCall | Failure] = field(default_factory=list, repr=False)
    _turns: dict[str, int] = field(default_factory=dict, repr=False)
    _speech_item: str | None = field(default=None, repr=False)
    _user_item: str | None = field(default=None, repr=False)
    _last_item: str | None = field(default=None, repr=False)

    @property
    def changes(self) -> Changes:
        return self.server.changes

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        """From the latest session.update that set it; None turns the VAD off."""
        for update in reversed(self.updates):
            audio_in = (update.get("audio") or {}).get("input") or {}
            if "turn_detection" in audio_in:
                return audio_in["turn_detection"]
        return {}

    # --- scripting -------------------------------------------------------------------------

    async def emit(self, event: Event) -> None:
        event = {"event_id": self.server.new_id("event"), **event}
        self.sent.append(event)
        await self.ws.send_message(json.dumps(event))
        self.changes.notify()

    async def error(self, message: str, code: str = "invalid_value") -> None:
        await self.emit({"type": "error", "error": {"type": "invalid_request_error",
                                                    "code": code, "message": message,
                                                    "param": None, "event_id": None}})

    async def drop(self, code: int = 1011, reason: str = "server restarting") -> None:
        """Close the socket from the server side, as an unexpected close for the client;
        ``close_code`` records ``code``."""
        if self.close_code is None:
            self.close_code = code
        await self.ws.aclose(code=code, reason=reason)

    def queue_tool_call(self, name: str, arguments: dict[str, Any], *,
                        with_audio: bool = False) -> None:
        """The next response calls tool ``name`` (after a spoken part if ``with_audio``)."""
        self._script.append(ToolCall(name, arguments, with_audio))

    def fail_next_response(self, code: str = "rate_limit_exceeded",
                           message: str = "Rate limit reached for gpt-realtime.") -> None:
        self._script.append(Failure(code, message))

    async def speech_started(self, audio_start_ms: int | None = None) -> str:
        """Emit speech_started for a new user item (at the current input position by
        default) and return its id. Independent of the VAD's own state."""
        self._speech_item = item_id = self.server.new_id("item")
        start = len(self.audio) // BYTES_PER_MS if audio_start_ms is None else audio_start_ms
        await self.emit({"type": "input_audio_buffer.speech_started",
                         "audio_start_ms": start, "item_id": item_id})
        return item_id

    async def speech_stopped(self, audio_end_ms: int | None = None) -> str:
        item_id = self._speech_item = self._speech_item or self.server.new_id("item")
        end = len(self.audio) // BYTES_PER_MS if audio_end_ms is None else audio_end_ms
        await self.emit({"type": "input_audio_buffer.speech_stopped",
                         "audio_end_ms": end, "item_id": item_id})
        return item_id

    async def commit(self) -> str:
        """Commit the current user item (the speech's, else a new one) and return its id."""
        item_id = self._speech_item or self.server.new_id("item")
        self._speech_item = None
        await self.emit({"type": "input_audio_buffer.committed", "item_id": item_id,
                         "previous_item_id": self._last_item})
        self._user_item = self._last_item = item_id
        return item_id

    async def transcribe(self, text: str | None = None, item_id: str | None = None) -> str:
        """Transcription deltas and completed for ``item_id`` (default: the last committed
        user item) with ``text`` (default: the next of ``heard``); returns the text."""
        item_id = item_id or self._user_item or self.server.new_id("item")
        text = self._next("heard") if text is None else text
        base = {"item_id": item_id, "content_index": 0}
        for piece in transcript_pieces(text, 2):
            if piece:
                await self.emit({"type": "conversation.item.input_audio_transcription.delta",
                                 **base, "delta": piece})
        await self.emit({"type": "conversation.item.input_audio_transcription.completed",
                         **base, "transcript": text})
        return text

    # --- waiting ---------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        await self.changes.wait_until(predicate)

    async def wait_for_update(self) -> Event:
        await self.wait_for(lambda: bool(self.updates))
        return self.updates[0]

    async def wait_for_response(self, number: int = 1, *,
                                finished: bool = False) -> ResponseRecord:
        """The ``number``-th response (1-based) once started, or once ``finished``."""
        await self.wait_for(lambda: len(self.responses) >= number and (
            not finished or self.responses[number - 1].finished))
        return self.responses[number - 1]

    async def wait_for_truncate(self, count: int = 1) -> Event:
        await self.wait_for(lambda: len(self.truncates) >= count)
        return self.truncates[count - 1]

    async def wait_for_message(self, kind: str, count: int = 1) -> Event:
        """The ``count``-th client event of type ``kind``."""
        def matching() -> list[Event]:
            return [event for _, event in self.received if event.get("type") == kind]
        await self.wait_for(lambda: len(matching()) >= count)
        return matching()[count - 1]

    # --- the connection --------------------------------------------------------------------

    def _next(self, script: str) -> str:
        lines = getattr(self, script)
        turn = self._turns.get(script, 0)
        self._turns[script] = turn + 1
        return lines[turn % len(lines)]

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        async def guarded() -> None:
            with suppress(trio_websocket.ConnectionClosed):  # the receive loop records it
                await fn(*args)
        assert self._nursery is not None
        self._nursery.start_soon(guarded)

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    await self.emit({"type": "session.created", "session": {
                        "id": self.server.new_id("sess"), "object": "realtime.session",
                        "type": "realtime", "model": self.model,
                        "output_modalities": ["audio"]}})
                    while True:
                        await self._receive(await self.ws.get_message())
                except trio_websocket.ConnectionClosed as exc:
                    if self.close_code is None:  # else the server dropped it with that code
                        self.close_code = exc.reason.code if exc.reason else None
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            self.closed.set()
            self.changes.notify()

    async def _receive(self, text: str | bytes) -> None:
        arrived = trio.current_time()
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            self.received.append((arrived, {"raw": text}))
            self.other.append({"raw": text})
            self.changes.notify()
            return await self.error("The message is not a JSON object.", "invalid_json")
        self.received.append((arrived, event))
        self.changes.notify()
        handler = _HANDLERS.get(event.get("type"))
        if handler is None:
            self.other.append(event)
        else:
            await handler(self, event)
        self.changes.notify()

    async def _on_session_update(self, event: Event) -> None:
        self.updates.append(event.get("session") or {})
        await self.emit({"type": "session.updated", "session": event.get("session")})

    async def _on_append(self, event: Event) -> None:
        try:
            chunk = base64.b64decode(event["audio"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            return await self.error("Invalid 'audio'. Expected base64-encoded audio.")
        self.audio += chunk
        self.appends += 1
        detection = self.turn_detection
        if detection is None:
            return
        silence_ms, prefix_ms = (detection.get(key) for key in ("silence_duration_ms",
                                                                  "prefix_padding_ms"))
        for edge in self._vad.feed(chunk, silence_ms=500 if silence_ms is None else silence_ms,
                                   prefix_ms=300 if prefix_ms is None else prefix_ms):
            if edge.kind == "started":
                await self.speech_started(edge.at_ms)
            else:
                await self.speech_stopped(edge.at_ms)
                item_id = await self.commit()
                self._spawn(self._transcribe_later, item_id)
                if detection.get("create_response") and self._active is None:
                    self._begin_response({})

    async def _transcribe_later(self, item_id: str) -> None:
        await trio.sleep(self.transcribe_delay_s)
        await self.transcribe(item_id=item_id)

    async def _on_response_create(self, event: Event) -> None:
        if self._active is not None:
            return await self.error(
                f"Conversation already has an active response in progress: "
                f"{self._active.id}. Wait until the response is finished before creating a "
                "new one.", "conversation_already_has_active_response")
        self._begin_response(event)

    async def _on_response_cancel(self, event: Event) -> None:
        active, wanted = self._active, event.get("response_id")
        if active is None or (wanted and wanted != active.id):
            return await self.error("Cancellation failed: no active response found",
                                    "response_cancel_not_active")
        active.cancel_requested.set()

    async def _on_truncate(self, event: Event) -> None:
        self.truncates.append(event)
        item_id, end_ms = event.get("item_id"), event.get("audio_end_ms")
        record = next((response for response in self.responses
                       if response.item_id == item_id and response.spoken), None)
        if record is None:
            return await self.error(f"Item with item_id '{item_id}' not found or is not an "
                                    "assistant audio message.")
        if not isinstance(end_ms, int) or not 0 <= end_ms <= record.audio_bytes // BYTES_PER_MS:
            return await self.error(f"audio_end_ms {end_ms} is outside the item's audio.")
        record.truncated_at_ms = end_ms
        await self.emit({"type": "conversation.item.truncated", "item_id": item_id,
                         "content_index": event.get("content_index", 0),
                         "audio_end_ms": end_ms})

    async def _on_item_create(self, event: Event) -> None:
        item = {"object": "realtime.item", "status": "completed", **(event.get("item") or {})}
        item.setdefault("id", self.server.new_id("item"))
        self.items_created.append(item)
        previous, self._last_item = self._last_item, item["id"]
        for kind in ("conversation.item.added", "conversation.item.done"):
            await self.emit({"type": kind, "previous_item_id": previous, "item": item})

    def _begin_response(self, request: Event) -> None:
        """Record a response and stream it in the background: the next scripted tool call
        or failure, else speech (the ``<<say>>`` text of its instructions, else the next of
        ``replies``)."""
        instructions = (request.get("response") or {}).get("instructions")
        directive = self._script.pop(0) if self._script else None
        record = ResponseRecord(
            id=self.server.new_id("resp"), item_id=self.server.new_id("item"),
            request=request, instructions=instructions, started_at=trio.current_time())
        if not isinstance(directive, Failure) and (directive is None or directive.with_audio):
            said = say_text(instructions)
            record.transcript = self._next("replies") if said is None else said
        self.responses.append(record)
        self._active = record
        self.changes.notify()
        self._spawn(stream_response, self, record, directive)

    def response_finished(self, item_ids: list[str]) -> None:
        """For stream_response: the active response is over (its response.done is next)."""
        self._active = None
        if item_ids:
            self._last_item = item_ids[-1]


_HANDLERS: dict[Any, Callable[[VoiceSession, Event], Any]] = {
    "session.update": VoiceSession._on_session_update,
    "input_audio_buffer.append": VoiceSession._on_append,
    "response.create": VoiceSession._on_response_create,
    "response.cancel": VoiceSession._on_response_cancel,
    "conversation.item.truncate": VoiceSession._on_truncate,
    "conversation.item.create": VoiceSession._on_item_create,
}
