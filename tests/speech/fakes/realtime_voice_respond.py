"""How the fake OpenAI Realtime voice server (``realtime_voice_server``) streams a response.

:func:`stream_response` runs in its session's nursery and sends, in order,
``response.created``; then for speech ``response.output_item.added`` (an assistant message),
``response.output_audio.delta`` (a 300 Hz mu-law tone, ``delta_ms`` per delta,
``delta_interval_s`` apart) interleaved with ``response.output_audio_transcript.delta``,
``response.output_audio.done``, ``response.output_audio_transcript.done`` and
``response.output_item.done``; for a scripted tool call the function_call item with its
argument events; and last ``response.done`` (completed, cancelled or failed). A
``response.cancel`` stops the audio before its next delta. It owns nothing: a closed socket
ends it with ConnectionClosed, which the session's task guard absorbs.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from tests.speech.fakes.realtime_voice_audio import (
    BYTES_PER_MS,
    reply_audio,
    transcript_pieces,
)

if TYPE_CHECKING:
    from tests.speech.fakes.realtime_voice_session import VoiceSession

Event = dict[str, Any]


@dataclass
class ResponseRecord:
    """One response as the server produced it. ``item_id`` is its first output item (the
    audio message, or the function call when there is no speech); ``audio`` is what was sent;
    ``spoken`` once its message item was announced (from then on it can be truncated)."""

    id: str
    item_id: str
    request: Event  # the response.create event ({} when the server VAD created it)
    instructions: str | None
    started_at: float
    transcript: str = ""
    spoken: bool = False
    first_delta_at: float | None = None
    audio: bytearray = field(default_factory=bytearray)
    status: str = "in_progress"  # then completed, cancelled or failed
    call_id: str | None = None
    call_item_id: str | None = None
    arguments: str | None = None
    truncated_at_ms: int | None = None
    cancel_requested: trio.Event = field(default_factory=trio.Event, repr=False)

    @property
    def audio_bytes(self) -> int:
        return len(self.audio)

    @property
    def finished(self) -> bool:
        return self.status != "in_progress"


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    with_audio: bool


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


async def stream_response(session: VoiceSession, record: ResponseRecord,
                          directive: ToolCall | Failure | None) -> None:
    await session.emit({"type": "response.created", "response": {
        "id": record.id, "object": "realtime.response", "status": "in_progress", "output": []}})
    output: list[Event] = []
    details: Event | None = None
    if isinstance(directive, Failure):
        status = "failed"
        details = {"type": "failed", "error": {"code": directive.code,
                                               "message": directive.message}}
    else:
        if directive is None or directive.with_audio:
            output.append(await _speak(session, record))
        if isinstance(directive, ToolCall) and not record.cancel_requested.is_set():
            output.append(await _call(session, record, directive, len(output)))
        status = "cancelled" if record.cancel_requested.is_set() else "completed"
    session.response_finished([item["id"] for item in output])
    response = {"id": record.id, "object": "realtime.response", "status": status,
                "status_details": details, "output": output}
    try:
        await session.emit({"type": "response.done", "response": response})
    finally:
        record.status = status
        session.changes.notify()


def _message(record: ResponseRecord, status: str, transcript: str) -> Event:
    return {"id": record.item_id, "object": "realtime.item", "type": "message",
            "role": "assistant", "status": status,
            "content": [{"type": "output_audio", "transcript": transcript}]}


async def _speak(session: VoiceSession, record: ResponseRecord) -> Event:
    """The audio message; stops early (item ``incomplete``) once a cancel was asked for."""
    await session.emit({"type": "response.output_item.added", "response_id": record.id,
                        "output_index": 0, "item": {**_message(record, "in_progress", ""),
                                                    "content": []}})
    record.spoken = True
    audio = reply_audio(session.reply_ms)
    step = max(1, session.delta_ms * BYTES_PER_MS)
    chunks = [audio[start:start + step] for start in range(0, len(audio), step)]
    pieces = transcript_pieces(record.transcript, len(chunks))
    base = {"response_id": record.id, "item_id": record.item_id, "output_index": 0,
            "content_index": 0}
    said = ""
    for number, piece in enumerate(pieces):
        if record.cancel_requested.is_set():
            break
        if number < len(chunks):
            await session.emit({"type": "response.output_audio.delta", **base,
                                "delta": base64.b64encode(chunks[number]).decode()})
            if record.first_delta_at is None:
                record.first_delta_at = trio.current_time()
            record.audio += chunks[number]
        if piece:
            await session.emit({"type": "response.output_audio_transcript.delta", **base,
                                "delta": piece})
            said += piece
        session.changes.notify()
        if number + 1 < len(pieces):
            with trio.move_on_after(session.delta_interval_s):
                await record.cancel_requested.wait()
    if record.cancel_requested.is_set():
        return _message(record, "incomplete", said)
    await session.emit({"type": "response.output_audio.done", **base})
    await session.emit({"type": "response.output_audio_transcript.done", **base,
                        "transcript": record.transcript})
    item = _message(record, "completed", record.transcript)
    await session.emit({"type": "response.output_item.done", "response_id": record.id,
                        "output_index": 0, "item": item})
    return item


async def _call(session: VoiceSession, record: ResponseRecord, call: ToolCall,
                index: int) -> Event:
    item_id = record.item_id if index == 0 else session.server.new_id("item")
    record.call_item_id, record.call_id = item_id, session.server.new_id("call")
    record.arguments = json.dumps(call.arguments)
    item = {"id": item_id, "object": "realtime.item", "type": "function_call",
            "status": "in_progress", "call_id": record.call_id, "name": call.name,
            "arguments": ""}
    base = {"response_id": record.id, "item_id": item_id, "output_index": index,
            "call_id": record.call_id}
    await session.emit({"type": "response.output_item.added", "response_id": record.id,
                        "output_index": index, "item": item})
    await session.emit({"type": "response.function_call_arguments.delta", **base,
                        "delta": record.arguments})
    await session.emit({"type": "response.function_call_arguments.done", **base,
                        "name": call.name, "arguments": record.arguments})
    item = {**item, "status": "completed", "arguments": record.arguments}
    await session.emit({"type": "response.output_item.done", "response_id": record.id,
                        "output_index": index, "item": item})
    return item
