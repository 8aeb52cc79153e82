"""Which configuration keys a running daemon can take on at ``daemon reload`` (pure).

:data:`RELOAD_TABLE` classifies every setting of the schema, one *unit* at a time (a unit is a
leaf key, or a whole :class:`~voicecall_cli.core.config.fields.TimeWindow` such as
``outbound.quietHours``):

* :data:`APPLIES`: the daemon reads it again for new calls, new turns or new media streams
  (speech, the auto-responder, the outbound rails, the inbound policy, call timeouts; the
  carriers' dial timeout and the mock's script through ``ProviderClient.reconfigure``); calls
  that are live keep going and pick it up at their next turn.
* :data:`RESTART`: it was used to build something that lives as long as the daemon (the carrier
  client and its credentials, the webhook server, the control socket, the store, the media
  endpoint, the tunnel). A changed value is named in ``needsRestart`` and the running value is
  kept until the daemon restarts.

How each setting is consumed decides its class: ``daemon.calls.settings`` (read per call and per
turn), ``daemon.media.wiring`` and ``speech`` (per stream, per utterance), ``daemon.main`` and
each provider's ``_open`` (once, at start). A key the schema gains must be added here: the test
``tests/core/test_reloadable.py`` fails on every unit this table does not classify.

:func:`plan_reload` compares the running configuration with a newly loaded one and returns what
changed by class, and the configuration the daemon runs with from now on: the new file's values
for the keys that apply, the running values for the keys that need a restart.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voicecall_cli.core.config.fields import Obj, Spec
from voicecall_cli.core.config.schema import CONFIG_SCHEMA
from voicecall_cli.core.config.validate import lookup

APPLIES = "applies"
RESTART = "restart"

_TTS_APPLIES = (
    # The calls' voice: a new synthesizer for the next utterance.
    "tts.provider", "tts.timeoutMs",
    "tts.openai.apiKey", "tts.openai.baseUrl", "tts.openai.model", "tts.openai.voice",
    "tts.elevenlabs.apiKey", "tts.elevenlabs.baseUrl", "tts.elevenlabs.voiceId",
    "tts.elevenlabs.modelId", "tts.elevenlabs.seed", "tts.elevenlabs.applyTextNormalization",
    "tts.elevenlabs.languageCode", "tts.elevenlabs.voiceSettings.stability",
    "tts.elevenlabs.voiceSettings.similarityBoost", "tts.elevenlabs.voiceSettings.style",
    "tts.elevenlabs.voiceSettings.useSpeakerBoost", "tts.elevenlabs.voiceSettings.speed",
    # OpenClaw's chat-only TTS keys: calls never read them, so taking them on is harmless.
    "tts.auto", "tts.enabled", "tts.mode", "tts.summaryModel", "tts.prefsPath",
    "tts.maxTextLength", "tts.modelOverrides.enabled", "tts.modelOverrides.allowText",
    "tts.modelOverrides.allowProvider", "tts.modelOverrides.allowVoice",
    "tts.modelOverrides.allowModelId", "tts.modelOverrides.allowVoiceSettings",
    "tts.modelOverrides.allowNormalization", "tts.modelOverrides.allowSeed",
    "tts.edge.enabled", "tts.edge.voice", "tts.edge.lang", "tts.edge.outputFormat",
    "tts.edge.pitch", "tts.edge.rate", "tts.edge.volume", "tts.edge.saveSubtitles",
    "tts.edge.proxy", "tts.edge.timeoutMs",
)

_APPLIES = (
    *_TTS_APPLIES,
    # Transcription of streams that start from now on (a live stream keeps its transcriber).
    "streaming.sttProvider", "streaming.scriptedTranscripts", "streaming.openaiApiKey",
    "streaming.openaiRealtimeUrl", "streaming.sttModel", "streaming.silenceDurationMs",
    "streaming.vadThreshold",
    # Nothing reads these (config validate warns so); OpenClaw's webhook-path STT.
    "stt.provider", "stt.model",
    # The auto-responder: the next reply uses the new model, prompt, timeout and endpoint.
    "responseModel", "responseBaseUrl", "responseSystemPrompt", "responseTimeoutMs",
    # CallSettings, read per call and per turn.
    "fromNumber", "toNumber", "inboundPolicy", "allowFrom", "inboundGreeting",
    "outbound.defaultMode", "outbound.notifyHangupDelaySec", "outbound.allowTo",
    "outbound.quietHours", "outbound.maxCallsPerHour", "outbound.maxCallsPerHourPerNumber",
    "mcp.requireConfirmation", "maxDurationSeconds", "silenceTimeoutMs",
    "transcriptTimeoutMs", "maxConcurrentCalls", "recording.enabled",
    "outbound.machineDetection",
    # The post-call hook: calls that end from now on get the new one (HookRunner.update).
    "hooks",
    # The carrier client switches these itself (ProviderClient.reconfigure): ringTimeoutMs is
    # also each carrier's dial timeout (the next dial); the mock's callee script applies to new
    # calls and a live call's next reply.
    "ringTimeoutMs",
    "mock.ringDelayMs", "mock.answerDelayMs", "mock.outcome", "mock.replies",
    "mock.replyDelayMs", "mock.hangupAfterReplies", "mock.hangupAfterMs", "mock.answeredBy",
    "mock.greetingMs",
)

_RESTART = (
    # The carrier plug-in is opened once: its client, credentials and voices.
    "enabled", "provider",
    "telnyx.apiKey", "telnyx.connectionId", "telnyx.publicKey", "telnyx.apiBaseUrl",
    "telnyx.voice", "telnyx.language",
    "twilio.accountSid", "twilio.authToken", "twilio.apiBaseUrl",
    "plivo.authId", "plivo.authToken", "plivo.apiBaseUrl", "plivo.voice", "plivo.language",
    # The webhook server, its signature checks, the tunnel and the public address.
    "serve.port", "serve.bind", "serve.path", "tailscale.mode", "tailscale.path",
    "tunnel.provider", "tunnel.ngrokAuthToken", "tunnel.ngrokDomain",
    "tunnel.allowNgrokFreeTierLoopbackBypass", "webhookSecurity.allowedHosts",
    "webhookSecurity.trustForwardingHeaders", "webhookSecurity.trustedProxyIPs",
    "publicUrl", "skipSignatureVerification",
    # The media-stream endpoint and its admission limits.
    "streaming.enabled", "streaming.streamPath", "streaming.preStartTimeoutMs",
    "streaming.maxPendingConnections", "streaming.maxPendingConnectionsPerIp",
    "streaming.maxConnections", "streaming.maxInboundStreams",
    # Realtime voice: the media side it needs and the session settings are built at start.
    "realtime.enabled", "realtime.provider", "realtime.apiKey", "realtime.model",
    "realtime.voice", "realtime.instructions", "realtime.transcriptionModel",
    "realtime.vadThreshold", "realtime.silenceDurationMs", "realtime.prefixPaddingMs",
    "realtime.baseUrl", "realtime.maxReconnects",
    # The store, the control socket, and the reaper task (started only when this is > 0).
    "store", "controlSocket", "staleCallReaperSeconds",
)

RELOAD_TABLE: dict[str, str] = {**{key: APPLIES for key in _APPLIES},
                                **{key: RESTART for key in _RESTART}}

_ABSENT = object()


def _is_unit(spec: Spec) -> bool:
    """A plain object is a section; anything else (a leaf, a TimeWindow) is one setting."""
    return type(spec) is not Obj


def schema_units(spec: Obj = CONFIG_SCHEMA, parent: str = "") -> list[str]:
    """Every setting of the schema as a dotted path, one per unit (see the module doc)."""
    units: list[str] = []
    for key, child in spec.fields.items():
        path = f"{parent}.{key}" if parent else key
        if _is_unit(child):
            units.append(path)
        else:
            assert isinstance(child, Obj)
            units.extend(schema_units(child, path))
    return units


def unclassified_units() -> list[str]:
    """Settings of the schema that :data:`RELOAD_TABLE` does not classify (must be empty)."""
    return [unit for unit in schema_units() if unit not in RELOAD_TABLE]


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` (or remove the key, for ``_ABSENT``) at ``path``, making sections."""
    *parents, last = path.split(".")
    node = data
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            if value is _ABSENT:
                return
            child = node[key] = {}
        node = child
    if value is _ABSENT:
        node.pop(last, None)
    else:
        node[last] = copy.deepcopy(value)


@dataclass(frozen=True)
class ReloadPlan:
    """What a reload changes: ``applied`` and ``needs_restart`` are unit paths whose value in
    the new file differs from the running one; ``data`` is the configuration to run with."""

    applied: tuple[str, ...]
    needs_restart: tuple[str, ...]
    data: dict[str, Any]


def plan_reload(running: Mapping[str, Any], new: Mapping[str, Any]) -> ReloadPlan:
    """Compare two validated configurations' ``data`` (see the module doc).

    A unit the table does not know counts as needing a restart (the safe side)."""
    data = copy.deepcopy(dict(new))
    applied: list[str] = []
    needs_restart: list[str] = []
    for unit in schema_units():
        before, after = lookup(running, unit, _ABSENT), lookup(new, unit, _ABSENT)
        if before == after:
            continue
        if RELOAD_TABLE.get(unit) == APPLIES:
            applied.append(unit)
        else:
            needs_restart.append(unit)
            _set(data, unit, before)
    return ReloadPlan(tuple(applied), tuple(needs_restart), data)
