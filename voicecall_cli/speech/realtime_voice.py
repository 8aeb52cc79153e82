"""Speech to speech for one call: an OpenAI Realtime conversation session (GA interface).

:class:`RealtimeVoice` is a :class:`~voicecall_cli.speech.realtime_socket.RealtimeSocket` on
``<baseUrl>?model=<model>``. On every (re)connect it sends one ``session.update``: G.711 mu-law
(``audio/pcmu``) in and out, so no audio is transcoded on either side; server VAD that detects
the caller's turns but neither creates nor interrupts responses by itself (``create_response``
and ``interrupt_response`` false: the daemon decides when the model speaks, so there is exactly
one greeting, and barge-in is its own ``response.cancel`` and ``conversation.item.truncate``);
caller transcription; the instructions (which, on a reconnect, carry the conversation so far);
and the ``end_call`` tool.

Server events become calls on a :class:`VoiceListener`; client events are sent by
:meth:`respond`, :meth:`say_verbatim`, :meth:`cancel`, :meth:`truncate` and
:meth:`tool_output`. Resource handling and reconnects are the socket's: the owner runs
:meth:`RealtimeVoice.run` as a task (the first connect is retried like a lost one, so a session
opened while a call rings survives a blip) and ends it with :meth:`RealtimeVoice.close`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from voicecall_cli.protocol.text import without_lone_surrogates
from voicecall_cli.speech.realtime_socket import RealtimeSocket, loggable

log = logging.getLogger("voicecall.speech.realtime")

DEFAULT_BASE_URL = "wss://api.openai.com/v1/realtime"
END_CALL_TOOL = "end_call"
VERBATIM = ("Say the text in the say tags aloud exactly as written, word for word, and say "
            "nothing else: <<say>>{text}<</say>>")
# Refusals that are part of normal turn-taking races (cancelling a response that just ended).
QUIET_ERRORS = frozenset({"response_cancel_not_active"})
# Responses whose spoken transcript is kept while they run (one at a time is the rule; the
# bound keeps a server that never finishes them from growing it).
MAX_OPEN_TRANSCRIPTS = 16


def end_call_tool() -> dict[str, Any]:
    """The function the model may call to hang up, with the reason it gives."""
    return {"type": "function", "name": END_CALL_TOOL,
            "description": ("End the phone call. Call this once the conversation is over (the "
                            "caller said goodbye, or asked to end the call), after saying "
                            "goodbye."),
            "parameters": {"type": "object", "properties": {"reason": {
                "type": "string", "description": "Why the call is ending, in a few words."}},
                "required": ["reason"]}}


@dataclass(frozen=True)
class VoiceSettings:
    """The ``realtime`` block a session is made from (secrets included: never log it)."""

    api_key: str
    model: str = "gpt-realtime"
    voice: str = "marin"
    base_url: str = DEFAULT_BASE_URL
    transcription_model: str = "gpt-4o-transcribe"
    vad_threshold: float = 0.5
    silence_duration_ms: int = 500
    prefix_padding_ms: int = 300
    connect_timeout_s: float = 10.0
    max_reconnects: int = 3
    backoff_s: float = 0.5

    @property
    def url(self) -> str:
        joiner = "&" if "?" in self.base_url else "?"
        return f"{self.base_url}{joiner}model={quote(self.model, safe='')}"


class VoiceListener(Protocol):
    """What a session reports (the daemon's per-call bridge implements it)."""

    def opened(self, resumed: bool) -> None: ...
    def lost(self, reason: str) -> None: ...
    def speech_started(self) -> None: ...
    def speech_stopped(self) -> None: ...
    def committed(self) -> None: ...
    def caller_partial(self, text: str) -> None: ...
    def caller_final(self, text: str) -> None: ...
    def response_created(self, response_id: str) -> None: ...
    def audio(self, response_id: str, item_id: str, mulaw: bytes) -> None: ...
    def assistant_transcript(self, response_id: str, text: str) -> None: ...
    def response_done(self, response_id: str, status: str, error: str | None) -> None: ...
    def tool_call(self, call_id: str, name: str, arguments: dict[str, Any]) -> None: ...
    def api_error(self, code: str, message: str, event_id: str | None) -> None: ...


class RealtimeVoice(RealtimeSocket):
    """One call's speech-to-speech session (see the module docstring). ``instructions`` is
    asked on every (re)connect, so a resumed session hears the conversation so far."""

    label = "Realtime voice"

    def __init__(self, settings: VoiceSettings, listener: VoiceListener,
                 instructions: Any) -> None:
        super().__init__(api_key=settings.api_key, url=settings.url, headers=[],
                         connect_timeout_s=settings.connect_timeout_s,
                         max_reconnects=settings.max_reconnects, backoff_s=settings.backoff_s,
                         retry_first_connect=True)
        self._settings = settings
        self._listener = listener
        self._instructions = instructions
        self._partial = ""
        self._spoken: dict[str, str] = {}  # response id -> its transcript so far

    def session_update(self, instructions: str) -> dict[str, Any]:
        s = self._settings
        return {"type": "session.update", "session": {
            "type": "realtime",
            "instructions": instructions,
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "transcription": {"model": s.transcription_model},
                    "turn_detection": {
                        "type": "server_vad", "threshold": s.vad_threshold,
                        "prefix_padding_ms": s.prefix_padding_ms,
                        "silence_duration_ms": s.silence_duration_ms,
                        "create_response": False, "interrupt_response": False},
                },
                "output": {"format": {"type": "audio/pcmu"}, "voice": s.voice},
            },
            "tools": [end_call_tool()],
            "tool_choice": "auto",
        }}

    # -- client events ----------------------------------------------------------------------------

    def respond(self, instructions: str | None = None, event_id: str | None = None) -> None:
        """Ask for a response (``instructions``: for this response only). An ``error`` the
        request earns names ``event_id`` (see :meth:`VoiceListener.api_error`)."""
        event: dict[str, Any] = {"type": "response.create"}
        if event_id:
            event["event_id"] = event_id
        if instructions:
            event["response"] = {"instructions": instructions}
        self.send_event(event)

    def say_verbatim(self, text: str, event_id: str | None = None) -> None:
        self.respond(VERBATIM.format(text=text), event_id)

    def cancel(self) -> None:
        self.send_event({"type": "response.cancel"})

    def truncate(self, item_id: str, audio_end_ms: int) -> None:
        """Cut the assistant item at what the caller heard, so the model's context holds
        only that."""
        self.send_event({"type": "conversation.item.truncate", "item_id": item_id,
                         "content_index": 0, "audio_end_ms": max(0, int(audio_end_ms))})

    def tool_output(self, call_id: str, output: dict[str, Any]) -> None:
        self.send_event({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": call_id, "output": json.dumps(output)}})

    # -- the socket's hooks -----------------------------------------------------------------------

    def connect_events(self, resumed: bool) -> list[dict[str, Any]]:
        self._partial = ""
        return [self.session_update(str(self._instructions()))]

    def connection_opened(self, resumed: bool) -> None:
        self._listener.opened(resumed)

    def connection_lost(self, reason: str) -> None:
        self._listener.lost(reason)

    def handle_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        listener = self._listener
        if kind == "response.output_audio.delta":
            audio = _decode(event.get("delta"))
            if audio:
                listener.audio(str(event.get("response_id") or ""),
                               str(event.get("item_id") or ""), audio)
        elif kind == "input_audio_buffer.speech_started":
            self._partial = ""
            listener.speech_started()
        elif kind == "input_audio_buffer.speech_stopped":
            listener.speech_stopped()
        elif kind == "input_audio_buffer.committed":
            listener.committed()
        elif kind == "conversation.item.input_audio_transcription.delta":
            delta = event.get("delta")
            if isinstance(delta, str) and delta:
                self._partial += without_lone_surrogates(delta)
                listener.caller_partial(self._partial)
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._partial = ""
            transcript = event.get("transcript")
            if isinstance(transcript, str) and transcript.strip():
                listener.caller_final(without_lone_surrogates(transcript))
        elif kind == "response.created":
            response = event.get("response")
            if isinstance(response, dict):
                listener.response_created(str(response.get("id") or ""))
        elif kind == "response.output_audio_transcript.delta":
            delta = event.get("delta")
            response_id = str(event.get("response_id") or "")
            if isinstance(delta, str) and len(self._spoken) < MAX_OPEN_TRANSCRIPTS:
                self._spoken[response_id] = self._spoken.get(response_id, "") + delta
        elif kind == "response.output_audio_transcript.done":
            transcript = event.get("transcript")
            response_id = str(event.get("response_id") or "")
            self._spoken.pop(response_id, None)
            if isinstance(transcript, str):
                listener.assistant_transcript(response_id, without_lone_surrogates(transcript))
        elif kind == "response.function_call_arguments.done":
            listener.tool_call(str(event.get("call_id") or ""), str(event.get("name") or ""),
                               _arguments(event.get("arguments")))
        elif kind == "response.done":
            self._response_done(event.get("response"))
        elif kind == "error":
            error = event.get("error")
            error = error if isinstance(error, dict) else {}
            code = str(error.get("code") or error.get("type") or "error")
            message = loggable(str(error.get("message") or ""), self._api_key)
            if code in QUIET_ERRORS:
                log.debug("Realtime voice: %s", code)
                return
            log.warning("Realtime voice error event (%s): %s", loggable(code), message)
            cause = error.get("event_id")
            listener.api_error(loggable(code), message, cause if isinstance(cause, str) else None)

    def _response_done(self, response: Any) -> None:
        if not isinstance(response, dict):
            return
        status = str(response.get("status") or "completed")
        error = None
        details = response.get("status_details")
        if status == "failed" and isinstance(details, dict):
            cause = details.get("error")
            if isinstance(cause, dict):
                error = loggable(f"{cause.get('code') or 'error'}: {cause.get('message') or ''}",
                                 self._api_key)
        if status == "failed" and error is None:
            error = "the model's response failed"
        response_id = str(response.get("id") or "")
        spoken = self._spoken.pop(response_id, None)
        if spoken:  # cut short (cancelled): what it had said so far
            self._listener.assistant_transcript(response_id, without_lone_surrogates(spoken))
        self._listener.response_done(response_id, status, error)


def _decode(delta: Any) -> bytes:
    if not isinstance(delta, str):
        return b""
    try:
        return base64.b64decode(delta, validate=True)
    except (binascii.Error, ValueError):
        log.warning("Realtime voice: ignoring an audio delta that is not base64")
        return b""


def _arguments(raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw else {}
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
