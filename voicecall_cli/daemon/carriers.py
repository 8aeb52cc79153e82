"""Opening the configured carrier: its REST (or simulated) client and its webhook codec.

:func:`open_carrier` is an async context manager: the client it yields owns an HTTP client
(and, for ``mock``, the simulated callee's tasks) and is closed on exit. Once the webhook
server listens, :meth:`Carrier.bind_webhook_url` tells the carrier the URL it will be given for
webhooks: with no ``publicUrl`` configured (and no forwarding-header trust to reconstruct it),
that URL is also the one Twilio signs, so signatures are checked against it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from voicecall_cli.daemon.clock import WallClock
from voicecall_cli.daemon.media.streaming import (
    StreamHooks,
    StreamSpeaker,
    TranscriberFactory,
    Voice,
    offline_voice,
    stream_url,
    synthesized_voice,
)
from voicecall_cli.providers.base import CarrierClient, WebhookCodec

log = logging.getLogger("voicecall.carriers")


@dataclass
class Carrier:
    client: CarrierClient
    codec: WebhookCodec
    twilio_state: Any = None  # TwilioState when the carrier is Twilio
    media: Any = None  # MediaStreams when Twilio Media Streams are on
    stream_hooks: StreamHooks | None = None
    stream_path: str | None = None

    def bind_webhook_url(self, webhook_url: str, *, configured_public_url: str | None,
                         reconstructs_url: bool) -> None:
        if self.twilio_state is None:
            return
        if not configured_public_url and not reconstructs_url:
            self.codec.use_public_url(webhook_url)  # type: ignore[attr-defined]
        if self.media is not None and self.stream_path:
            self.twilio_state.stream_url = stream_url(webhook_url, self.stream_path)


@asynccontextmanager
async def open_carrier(config: Any, clock: WallClock) -> AsyncIterator[Carrier]:
    if config.provider == "mock":
        from voicecall_cli.providers.mock import MockWebhookCodec, open_mock_carrier

        async with open_mock_carrier(config.mock, clock_ms=clock.now_ms) as client:
            yield Carrier(client, MockWebhookCodec())
        return
    if config.provider == "twilio":
        async with _open_twilio(config) as carrier:
            yield carrier
        return
    raise RuntimeError(f"provider {config.provider!r} is not available in this build yet")


def webhook_security(config: Any) -> Any:
    from voicecall_cli.providers.signatures import WebhookSecurity

    return WebhookSecurity(
        allowed_hosts=tuple(config.get("webhookSecurity.allowedHosts") or ()),
        trust_forwarding_headers=bool(config.get("webhookSecurity.trustForwardingHeaders")),
        trusted_proxy_ips=tuple(config.get("webhookSecurity.trustedProxyIPs") or ()))


def transcriber_factory(config: Any) -> TranscriberFactory | None:
    """How a stream's caller audio becomes transcripts, per ``streaming.sttProvider``."""
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


@asynccontextmanager
async def open_voice(config: Any) -> AsyncIterator[Voice]:
    """How text becomes call audio: the configured TTS (its HTTP client is closed on exit),
    else the offline tone voice, with the reason logged once."""
    import httpx

    from voicecall_cli.speech.tts import make_synthesizer, tts_unavailable_reason

    tts = config.get("tts")
    timeout_s = int((tts or {}).get("timeoutMs") or 8000) / 1000
    async with httpx.AsyncClient() as http:
        synthesizer = make_synthesizer(tts, http=http, timeout_s=timeout_s)
        if synthesizer is None:
            log.warning("calls speak with a placeholder tone: %s", tts_unavailable_reason(tts))
            yield offline_voice
        else:
            yield lambda text, on_first_byte=None: synthesized_voice(synthesizer, text,
                                                                     on_first_byte)


@asynccontextmanager
async def _open_twilio(config: Any) -> AsyncIterator[Carrier]:
    """Twilio's state, codec and REST client, and with Media Streams the stream endpoint, its
    transcription and the voice that speaks into it; everything opened here closes on exit."""
    from voicecall_cli.core.config import normalize_url_path
    from voicecall_cli.providers.signatures import ngrok_loopback_bypass_effective
    from voicecall_cli.providers.twilio import TwilioState, TwilioWebhookCodec, polly_voice
    from voicecall_cli.providers.twilio.rest import open_twilio_client

    state = TwilioState(max_inbound_streams=int(config.get("streaming.maxInboundStreams")))
    voice = polly_voice(config.get("tts.openai.voice"))
    auth_token = config.get("twilio.authToken")
    codec = TwilioWebhookCodec(
        auth_token, state, public_url=config.get("publicUrl"), security=webhook_security(config),
        ngrok_loopback_bypass=ngrok_loopback_bypass_effective(
            allowed=bool(config.get("tunnel.allowNgrokFreeTierLoopbackBypass")),
            tunnel_provider=config.get("tunnel.provider"), bind=config.serve_bind),
        voice=voice)
    async with AsyncExitStack() as stack:
        media = hooks = player = None
        if config.get("streaming.enabled"):
            from voicecall_cli.daemon.media.endpoint import MediaStreams

            hooks = StreamHooks(transcriber_factory(config))
            media = MediaStreams(
                state=state, max_connections=int(config.get("streaming.maxConnections")),
                max_pending=int(config.get("streaming.maxPendingConnections")),
                max_pending_per_ip=int(config.get("streaming.maxPendingConnectionsPerIp")),
                pre_start_timeout_s=int(config.get("streaming.preStartTimeoutMs")) / 1000,
                on_start=hooks.on_start, on_stop=hooks.on_stop, on_audio=hooks.on_audio,
                on_disconnect_timeout=hooks.on_disconnect_timeout, is_inbound=hooks.is_inbound)
            player = StreamSpeaker(media, await stack.enter_async_context(open_voice(config)),
                                   hooks)
        client = await stack.enter_async_context(open_twilio_client(
            account_sid=config.get("twilio.accountSid"), auth_token=auth_token,
            api_base_url=config.get("twilio.apiBaseUrl"), state=state, voice=voice,
            stream_player=player,
            ring_timeout_s=max(1, int(config.get("ringTimeoutMs")) // 1000)))
        yield Carrier(client, codec, twilio_state=state, media=media, stream_hooks=hooks,
                      stream_path=normalize_url_path(config.get("streaming.streamPath")))
