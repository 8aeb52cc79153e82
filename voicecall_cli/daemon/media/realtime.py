"""Realtime voice: which calls a speech-to-speech model speaks, and their sessions.

:class:`RealtimeVoices` keeps one :class:`~voicecall_cli.daemon.media.realtime_call.
RealtimeCall` per call it speaks (inbound and conversation calls; notify calls keep the
cascaded voice). A call's session opens as early as the daemon knows the call (while an
outbound call rings, at the inbound webhook), so the greeting is ready when the stream starts;
the stream's audio goes to it (:meth:`RealtimeVoices.open`), and it closes when the call ends
(:meth:`forget`, from the call manager).

:class:`RealtimePlayer` is the speech router's stream player while realtime is on: text for a
realtime call is said by its model, verbatim; anything else goes to the cascaded
:class:`~voicecall_cli.daemon.media.streaming.StreamSpeaker`.

When a session cannot be had (its reconnects exhausted), the call falls back to the cascaded
voice when one is configured (``streaming``: its transcriber, TTS voice and auto-responder take
over the stream, and words that were waiting for the model are said by it), else it is hung up
(reason ``error``); both are events, so the caller never sits in silence without one saying
why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.media.playback import PlaybackFailed
from voicecall_cli.daemon.media.realtime_call import RealtimeCall
from voicecall_cli.daemon.media.streaming import StreamHooks, StreamSpeaker
from voicecall_cli.protocol import events as ev
from voicecall_cli.speech.prompts import realtime_instructions
from voicecall_cli.speech.realtime_voice import RealtimeVoice, VoiceSettings

log = logging.getLogger("voicecall.realtime")

TRANSCRIPT_CONTEXT = 40  # a resumed session hears this many of the newest transcript entries


@dataclass(frozen=True)
class RealtimeSettings:
    """The ``realtime`` block, read once at start (its keys need a restart)."""

    voice: VoiceSettings
    instructions: str | None

    @classmethod
    def from_config(cls, config: Any) -> RealtimeSettings | None:
        """None when realtime is off, or has no API key (``config validate`` says so)."""
        if not config.get("realtime.enabled"):
            return None
        api_key = config.get("realtime.apiKey") or config.get("streaming.openaiApiKey")
        if not api_key:
            log.warning("realtime.enabled is true but no OpenAI API key is set: calls use the "
                        "cascaded voice")
            return None
        return cls(voice=VoiceSettings(
            api_key=api_key, model=config.get("realtime.model"),
            voice=config.get("realtime.voice"), base_url=config.get("realtime.baseUrl"),
            transcription_model=config.get("realtime.transcriptionModel"),
            vad_threshold=float(config.get("realtime.vadThreshold")),
            silence_duration_ms=int(config.get("realtime.silenceDurationMs")),
            prefix_padding_ms=int(config.get("realtime.prefixPaddingMs")),
            max_reconnects=int(config.get("realtime.maxReconnects"))),
            instructions=(config.get("realtime.instructions")
                          or config.get("responseSystemPrompt") or None))


class RealtimeVoices:
    """The realtime calls (see the module docstring), by our call id: a carrier may give a
    call a new id when it is answered (Plivo), and its session follows it."""

    def __init__(self, settings: RealtimeSettings, hooks: StreamHooks, media: Any) -> None:
        self.settings = settings
        self.hooks = hooks
        self.media = media
        self._calls: dict[str, RealtimeCall] = {}  # call id ->
        self._cascaded: set[str] = set()  # call ids whose session failed: the cascaded voice
        self._lost: set[str] = set()  # call ids whose session failed with no voice to take over

    @property
    def manager(self) -> Any:
        return self.hooks.manager

    def wants(self, call: Any) -> bool:
        return (call is not None and not call.is_terminal
                and (call.direction == "inbound" or call.mode == "conversation")
                and call.call_id not in self._cascaded and call.call_id not in self._lost)

    def falls_back(self, call_id: str) -> bool:
        """The call's session failed and the cascaded voice took over."""
        return call_id in self._cascaded

    def owns(self, call: Any) -> bool:
        """The call's replies are the realtime model's (not the auto-responder's)."""
        return call.call_id in self._calls

    def open(self, pid: str) -> RealtimeCall | None:
        """The call's realtime session, opened now if it has none (its stream's audio goes
        to it once the stream starts); None when the call is not one the model speaks."""
        manager = self.manager
        call = manager.find(pid) if manager is not None else None
        if call is None:
            return None
        existing = self._calls.get(call.call_id)
        if existing is not None:
            existing.pid = pid  # (the carrier's id of the call may have changed)
            return existing
        if not self.wants(call):
            return None
        realtime = self._calls[call.call_id] = RealtimeCall(self, call.call_id, pid)
        manager.spawn(realtime.run)
        return realtime

    def forget(self, call_id: str) -> None:
        """The call ended: close its session."""
        self._cascaded.discard(call_id)
        self._lost.discard(call_id)
        realtime = self._calls.pop(call_id, None)
        if realtime is not None and self.manager is not None:
            self.manager.spawn(realtime.close)

    def new_session(self, call: RealtimeCall) -> RealtimeVoice:
        def instructions() -> str:
            record = self.manager.calls.get(call.call_id)
            if record is None:
                return realtime_instructions(system_prompt=self.settings.instructions,
                                             caller="", objective=None, transcript=[])
            objective = record.metadata.get("objective")
            return realtime_instructions(
                system_prompt=self.settings.instructions, caller=record.from_number,
                objective=objective if isinstance(objective, str) else None,
                transcript=[(t.speaker, t.text)
                            for t in record.transcript[-TRANSCRIPT_CONTEXT:]])
        return RealtimeVoice(self.settings.voice, call, instructions)

    def session_failed(self, realtime: RealtimeCall, reason: str) -> None:
        """Fall back to the cascaded voice when ``streaming`` is configured, else hang up."""
        if self._calls.get(realtime.call_id) is realtime:
            del self._calls[realtime.call_id]
        manager = self.manager
        manager.spawn(realtime.close)
        call = manager.calls.get(realtime.call_id)
        if call is None or call.is_terminal:
            return
        if self.hooks.can_transcribe:
            self._cascaded.add(call.call_id)
            log.warning("realtime session of call %s lost (%s): the cascaded voice takes over",
                        call.call_id, reason)
            manager.publish(call, ev.CALL_REALTIME, {"event": "fallback", "reason": reason})
            if call.provider_call_id:
                self.hooks.restart_transcriber(call.provider_call_id)
            return
        self._lost.add(call.call_id)
        log.warning("realtime session of call %s lost (%s) and no cascaded voice is "
                    "configured: hanging up", call.call_id, reason)
        manager.publish(call, ev.CALL_REALTIME, {"event": "failed", "reason": reason})
        manager.publish(call, ev.CALL_ERROR, {"message": f"realtime voice unavailable "
                                                         f"({reason}); no streaming voice "
                                                         "to fall back to: hanging up"})

        async def hang_up() -> None:
            try:
                await manager.hang_up(call, CallState.ERROR.value)
            except Exception as exc:
                log.warning("hang-up after the realtime session failed: %s", exc)
        manager.spawn(hang_up)


class RealtimePlayer:
    """The speech router's ``StreamPlayer`` while realtime is on (see the module
    docstring)."""

    def __init__(self, voices: RealtimeVoices, speaker: StreamSpeaker) -> None:
        self._voices = voices
        self._speaker = speaker

    def prepare(self, provider_call_id: str, text: str) -> None:
        realtime = self._voices.open(provider_call_id)
        if realtime is not None:
            realtime.prepare(text)
        elif text:
            self._speaker.prepare(provider_call_id, text)

    def discard(self, provider_call_id: str) -> None:
        self._speaker.discard(provider_call_id)

    async def play_text(self, provider_call_id: str, text: str) -> None:
        """Said by the call's model; by the cascaded voice for other calls, and for a call
        whose session failed (also the words that were waiting for it then)."""
        realtime = self._voices.open(provider_call_id)
        if realtime is not None:
            try:
                await realtime.say(text)
                return
            except PlaybackFailed:
                if not (realtime.failed and self._voices.falls_back(realtime.call_id)):
                    raise
        await self._speaker.play_text(provider_call_id, text)
