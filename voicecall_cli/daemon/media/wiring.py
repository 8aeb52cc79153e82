"""Opening the daemon's media side for a provider that streams: the endpoint, its hooks into
the calls, the transcriber of each stream and the voice that speaks into it.

:func:`open_media` is an async context manager; it yields None when streaming is off or the
provider has no media codec. What it opens (the TTS HTTP client) closes on exit; the endpoint's
tasks run in the nursery of whoever calls :meth:`MediaStreams.run`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from voicecall_cli.core.config import normalize_url_path
from voicecall_cli.daemon.media.endpoint import MediaStreams
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.daemon.media.streaming import (
    StreamHooks,
    StreamSpeaker,
    TranscriberFactory,
    Voice,
    offline_voice,
    synthesized_voice,
)
from voicecall_cli.protocol import events as ev
from voicecall_cli.providers.base import Provider

log = logging.getLogger("voicecall.media")


@dataclass
class Media:
    """The opened media side: the websocket endpoint (served at ``path``), its hooks, the
    stream speaker and the voice it speaks with (``daemon reload`` switches it); ``player`` is
    what the speech router plays text with (the speaker, or the realtime voice's player), and
    ``realtime`` the realtime calls when that voice is on."""

    path: str
    endpoint: MediaStreams
    hooks: StreamHooks
    speaker: StreamSpeaker
    voice: SwitchableVoice
    player: Any = None
    realtime: Any = None

    def bind(self, manager: Any) -> None:
        """The call manager exists: streams and realtime calls report to it."""
        self.hooks.bind(manager, self.endpoint)
        if self.realtime is not None:
            manager.realtime = self.realtime


@asynccontextmanager
async def open_media(config: Any, provider: Provider,
                     registry: StreamRegistry) -> AsyncIterator[Media | None]:
    """Calls stream when ``streaming.enabled`` or ``realtime.enabled``, and the provider has a
    media codec."""
    from voicecall_cli.daemon.media.realtime import RealtimeSettings

    streaming = bool(config.get("streaming.enabled"))
    realtime = RealtimeSettings.from_config(config)
    if provider.media is None or not (streaming or realtime):
        yield None
        return
    hooks = StreamHooks(transcriber_factory(config))
    endpoint = MediaStreams(
        registry=registry, codec=provider.media,
        max_connections=int(config.get("streaming.maxConnections")),
        max_pending=int(config.get("streaming.maxPendingConnections")),
        max_pending_per_ip=int(config.get("streaming.maxPendingConnectionsPerIp")),
        pre_start_timeout_s=int(config.get("streaming.preStartTimeoutMs")) / 1000,
        on_start=hooks.on_start, on_stop=hooks.on_stop, on_audio=hooks.on_audio,
        on_dtmf=hooks.on_dtmf,
        on_disconnect_timeout=hooks.on_disconnect_timeout, is_inbound=hooks.is_inbound,
        is_live_call=hooks.is_live_call, on_error=partial(report_stream_error, hooks))
    async with open_voice(config, realtime is not None) as voice:
        speaker = StreamSpeaker(endpoint, voice, hooks)
        media = Media(normalize_url_path(config.get("streaming.streamPath")), endpoint, hooks,
                      speaker, voice, player=speaker)
        if realtime is not None:
            from voicecall_cli.daemon.media.realtime import RealtimePlayer, RealtimeVoices

            media.realtime = hooks.realtime = RealtimeVoices(realtime, hooks, endpoint)
            media.player = RealtimePlayer(media.realtime, speaker)
        yield media


def report_stream_error(hooks: StreamHooks, call_sid: str, message: str) -> None:
    """Why the endpoint closed a started stream's socket, as the call's ``call.error``."""
    manager = hooks.manager
    call = manager.find(call_sid) if manager is not None else None
    if manager is not None and call is not None:
        manager.publish(call, ev.CALL_ERROR, {"message": message})


def transcriber_factory(config: Any) -> TranscriberFactory | None:
    """How a stream's caller audio becomes transcripts, per ``streaming.sttProvider``; None
    when ``streaming`` is off (streams that only a realtime voice speaks on)."""
    if not config.get("streaming.enabled"):
        return None
    if config.get("streaming.sttProvider") == "scripted":
        from voicecall_cli.daemon.media.scripted_stt import ScriptedTranscriber

        transcripts = list(config.get("streaming.scriptedTranscripts") or [])
        silence_ms = int(config.get("streaming.silenceDurationMs"))

        def scripted(on_partial, on_final, on_speech_started, on_speech_stopped):
            return ScriptedTranscriber(transcripts=transcripts, on_partial=on_partial,
                                       on_final=on_final, on_speech_started=on_speech_started,
                                       on_speech_stopped=on_speech_stopped,
                                       silence_ms=silence_ms)
        return scripted
    api_key = config.get("streaming.openaiApiKey")
    if not api_key:  # the config check's start-up warning says so
        return None
    from voicecall_cli.speech.stt_openai import RealtimeTranscriber

    def realtime(on_partial, on_final, on_speech_started, on_speech_stopped):
        return RealtimeTranscriber(
            on_speech_stopped=on_speech_stopped,
            api_key=api_key, model=config.get("streaming.sttModel"),
            vad_threshold=float(config.get("streaming.vadThreshold")),
            silence_duration_ms=int(config.get("streaming.silenceDurationMs")),
            url=config.get("streaming.openaiRealtimeUrl"), on_partial=on_partial,
            on_final=on_final, on_speech_started=on_speech_started)
    return realtime


class SwitchableVoice:
    """The stream speaker's :data:`Voice`: each utterance is spoken by the voice in use when it
    starts, so :meth:`use` (``daemon reload``) changes the next utterance, never one that plays.

    :meth:`build` makes a voice for a ``tts`` block with the HTTP client this object borrows
    (``open_voice`` owns and closes it); it does not switch."""

    def __init__(self, http: Any, realtime: bool = False) -> None:
        self._http = http
        self._realtime = realtime  # (then only notify calls speak with it, or a fallback)
        self._voice: Voice = offline_voice

    def build(self, tts: Any) -> Voice:
        """The voice for the validated ``tts`` block: the configured TTS, else the offline
        tone voice (the reason is logged)."""
        from voicecall_cli.speech.tts import make_synthesizer, tts_unavailable_reason

        timeout_s = int((tts or {}).get("timeoutMs") or 8000) / 1000
        synthesizer = make_synthesizer(tts, http=self._http, timeout_s=timeout_s)
        if synthesizer is None:
            who = ("notify calls (and calls the realtime voice falls back from)"
                   if self._realtime else "calls")
            log.warning("%s speak with a placeholder tone: %s", who,
                        tts_unavailable_reason(tts))
            return offline_voice
        return lambda text, on_first_byte=None: synthesized_voice(synthesizer, text,
                                                                  on_first_byte)

    def use(self, voice: Voice) -> None:
        self._voice = voice

    @property
    def current(self) -> Voice:
        """The voice the next utterance starts with."""
        return self._voice

    def __call__(self, text: str, on_first_byte: Callable[[], None] | None = None) -> Any:
        return self._voice(text, on_first_byte)


@asynccontextmanager
async def open_voice(config: Any, realtime: bool = False) -> AsyncIterator[SwitchableVoice]:
    """How text becomes call audio: the configured TTS (its HTTP client is closed on exit),
    else the offline tone voice, with the reason logged once (``realtime``: the realtime
    voice speaks inbound and conversation calls)."""
    import httpx

    async with httpx.AsyncClient() as http:
        voice = SwitchableVoice(http, realtime)
        voice.use(voice.build(config.get("tts")))
        yield voice
