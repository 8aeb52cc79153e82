"""The configuration schema: keys, types, ranges and defaults (reference section 1, baseline B).

Keys and nesting are the OpenClaw plugin's ``plugins.entries.voice-call.config`` object; the
keys this product adds (``controlSocket``, ``streaming.maxInboundStreams``, ``*.apiBaseUrl``,
``mock``, the outbound rails ``outbound.allowTo``/``quietHours``/``maxCallsPerHour*``,
``mcp`` and ``hooks``) sit beside them in the same style. ``store`` has no static default: it
depends on the environment and is filled in by the loader.
"""

from __future__ import annotations

from voicecall_cli.core.config.fields import (
    Bool,
    Enum,
    Int,
    IpAddress,
    ListOf,
    Number,
    Obj,
    Phone,
    PhonePrefix,
    Spec,
    Str,
    TimeWindow,
    Url,
)
from voicecall_cli.core.config.hooks import HooksSpec

PROVIDERS = ("telnyx", "twilio", "plivo", "mock")
# The providers this build runs, in registry order (every one of PROVIDERS): the registry line
# of each provider plug-in; providers.registry loads ``voicecall_cli.providers.<name>`` for each.
IMPLEMENTED_PROVIDERS = ("mock", "twilio", "telnyx", "plivo")
# responseModel's "<provider>/<model>" providers that can answer calls in this build.
REPLY_MODEL_PROVIDERS = ("openai",)
MOCK_FROM_NUMBER = "+15550000000"
DEFAULT_MOCK_REPLIES = ("Yes, tomorrow at ten works for me.", "No, that's everything. Thank you!")
TIMEOUT_RANGE = {"ge": 1000, "le": 120000}

TTS_SCHEMA = Obj({
    "auto": Enum(("off", "always", "inbound", "tagged")),
    "enabled": Bool(),
    "mode": Enum(("final", "all")),
    "provider": Enum(("openai", "elevenlabs", "edge")),
    "summaryModel": Str(),
    "modelOverrides": Obj({key: Bool() for key in (
        "enabled", "allowText", "allowProvider", "allowVoice", "allowModelId",
        "allowVoiceSettings", "allowNormalization", "allowSeed")}),
    "openai": Obj({
        "apiKey": Str(secret=True),
        "baseUrl": Url(),
        "model": Str(),
        "voice": Str(),
    }),
    "elevenlabs": Obj({
        "apiKey": Str(secret=True),
        "baseUrl": Url(),
        "voiceId": Str(),
        "modelId": Str(),
        "seed": Int(ge=0, le=2**32 - 1),
        "applyTextNormalization": Enum(("auto", "on", "off")),
        "languageCode": Str(),
        "voiceSettings": Obj({
            "stability": Number(ge=0, le=1),
            "similarityBoost": Number(ge=0, le=1),
            "style": Number(ge=0, le=1),
            "useSpeakerBoost": Bool(),
            "speed": Number(ge=0.5, le=2),
        }),
    }),
    "edge": Obj({
        "enabled": Bool(),
        "voice": Str(),
        "lang": Str(),
        "outputFormat": Str(),
        "pitch": Str(),
        "rate": Str(),
        "volume": Str(),
        "saveSubtitles": Bool(),
        "proxy": Str(),
        "timeoutMs": Int(**TIMEOUT_RANGE),
    }),
    "prefsPath": Str(),
    "maxTextLength": Int(ge=1),
    "timeoutMs": Int(**TIMEOUT_RANGE),
})

STREAMING_SCHEMA = Obj({
    "enabled": Bool(False),
    # "scripted": offline transcription for development and the demo: each burst of caller
    # speech (detected by its energy) is heard as the next of scriptedTranscripts.
    "sttProvider": Enum(("openai-realtime", "scripted"), "openai-realtime"),
    "scriptedTranscripts": ListOf(Str(), ["Yes, that works for me.", "No, that's all."]),
    "openaiApiKey": Str(secret=True),
    "openaiRealtimeUrl": Str("wss://api.openai.com/v1/realtime?intent=transcription"),
    "sttModel": Str("gpt-4o-transcribe"),
    "silenceDurationMs": Int(800, gt=0),
    "vadThreshold": Number(0.5, ge=0, le=1),
    "streamPath": Str("/voice/stream"),
    "preStartTimeoutMs": Int(5000, gt=0),
    "maxPendingConnections": Int(32, gt=0),
    "maxPendingConnectionsPerIp": Int(4, gt=0),
    "maxConnections": Int(128, gt=0),
    "maxInboundStreams": Int(1, gt=0),
})

# Realtime voice: one speech-to-speech model session per call (inbound and conversation calls)
# on the call's media stream, instead of transcription -> chat model -> TTS. With streaming
# also enabled, streaming is the fallback when a realtime session cannot be had.
REALTIME_SCHEMA = Obj({
    "enabled": Bool(False),
    "provider": Enum(("openai",), "openai"),
    "apiKey": Str(secret=True),
    "model": Str("gpt-realtime"),
    "voice": Str("marin"),
    "instructions": Str(min_len=0),  # else responseSystemPrompt, else the built-in prompt
    "transcriptionModel": Str("gpt-4o-transcribe"),
    "vadThreshold": Number(0.5, ge=0, le=1),
    "silenceDurationMs": Int(500, gt=0),
    "prefixPaddingMs": Int(300, ge=0),
    "baseUrl": Str("wss://api.openai.com/v1/realtime"),
    "maxReconnects": Int(3, ge=0, le=20),
})

MOCK_SCHEMA = Obj({
    "ringDelayMs": Int(200, ge=0),
    "answerDelayMs": Int(400, ge=0),
    "outcome": Enum(("answer", "busy", "no-answer", "failed"), "answer"),
    "replies": ListOf(Str(), list(DEFAULT_MOCK_REPLIES)),
    "replyDelayMs": Int(300, ge=0),
    "hangupAfterReplies": Int(ge=0),
    "hangupAfterMs": Int(gt=0),
    # Answering-machine detection as the mock carrier reports it: who picks up, and how long
    # a machine's greeting lasts before its beep.
    "answeredBy": Enum(("human", "machine"), "human"),
    "greetingMs": Int(1500, ge=0),
})

CONFIG_SCHEMA = Obj({
    "enabled": Bool(True),
    "provider": Enum(PROVIDERS, "mock"),
    "telnyx": Obj({
        "apiKey": Str(secret=True),
        "connectionId": Str(),
        "publicKey": Str(secret=True),
        "apiBaseUrl": Url("https://api.telnyx.com"),
        "voice": Str("female"),  # Telnyx speak voice when no media stream speaks
        "language": Str("en-US"),
    }),
    "twilio": Obj({
        "accountSid": Str(secret=True),
        "authToken": Str(secret=True),
        "apiBaseUrl": Url("https://api.twilio.com"),
    }),
    "plivo": Obj({
        "authId": Str(secret=True),
        "authToken": Str(secret=True),
        "apiBaseUrl": Url("https://api.plivo.com"),
        "voice": Str("WOMAN"),  # Plivo <Speak> voice when no media stream speaks
        "language": Str("en-US"),
    }),
    "fromNumber": Phone(),
    "toNumber": Phone(),
    "inboundPolicy": Enum(("disabled", "allowlist", "pairing", "open"), "disabled"),
    "allowFrom": ListOf(Phone(), []),
    "inboundGreeting": Str(min_len=0),
    "outbound": Obj({
        "defaultMode": Enum(("notify", "conversation"), "notify"),
        "notifyHangupDelaySec": Int(3, ge=0),
        # Safety rails (voicecall): absent = off. allowTo: numbers or prefixes that may be
        # called; quietHours: a daily window when calls are refused; per-hour dial limits.
        "allowTo": ListOf(PhonePrefix()),
        "quietHours": TimeWindow(),
        "maxCallsPerHour": Int(ge=1, le=1000),
        "maxCallsPerHourPerNumber": Int(ge=1, le=1000),
        # Answering-machine detection on outbound calls: off; detect (record who answered;
        # a conversation call a machine answers ends ``voicemail``); voicemail (a notify
        # message waits for the greeting's beep and is left as a voicemail).
        "machineDetection": Enum(("off", "detect", "voicemail"), "off"),
    }),
    "maxDurationSeconds": Int(300, gt=0),
    "staleCallReaperSeconds": Int(0, ge=0),
    "silenceTimeoutMs": Int(800, gt=0),
    "transcriptTimeoutMs": Int(180000, gt=0),
    "ringTimeoutMs": Int(30000, gt=0),
    "maxConcurrentCalls": Int(1, gt=0),
    "serve": Obj({
        "port": Int(3334, ge=0, le=65535),  # 0: any free port
        "bind": Str("127.0.0.1"),
        "path": Str("/voice/webhook"),
    }),
    "tailscale": Obj({
        "mode": Enum(("off", "serve", "funnel"), "off"),
        "path": Str("/voice/webhook"),
    }),
    "tunnel": Obj({
        "provider": Enum(("none", "ngrok", "tailscale-serve", "tailscale-funnel"), "none"),
        "ngrokAuthToken": Str(secret=True),
        "ngrokDomain": Str(),
        "allowNgrokFreeTierLoopbackBypass": Bool(False),
    }),
    "webhookSecurity": Obj({
        "allowedHosts": ListOf(Str(), []),
        "trustForwardingHeaders": Bool(False),
        "trustedProxyIPs": ListOf(IpAddress(), []),
    }),
    "streaming": STREAMING_SCHEMA,
    "realtime": REALTIME_SCHEMA,
    "publicUrl": Url(),
    "skipSignatureVerification": Bool(False),
    "stt": Obj({
        "provider": Enum(("openai",), "openai"),
        "model": Str("whisper-1"),
    }),
    "tts": TTS_SCHEMA,
    "store": Str(),
    "responseModel": Str("openai/gpt-4o-mini"),
    "responseBaseUrl": Str("https://api.openai.com/v1"),
    "responseSystemPrompt": Str(min_len=0),
    "responseTimeoutMs": Int(30000, gt=0),
    "controlSocket": Str(),
    "mock": MOCK_SCHEMA,
    # `voicecall mcp`: requireConfirmation makes an agent's initiate_call return a preview and
    # a token first; only the same request again with the token dials.
    "mcp": Obj({"requireConfirmation": Bool(False)}),
    # Carrier-side dual-channel recording of every call once answered (off: only calls placed
    # with `call --record`). Recording may need the other party's consent: see the README.
    "recording": Obj({"enabled": Bool(False)}),
    # The post-call hook (absent: none): a command or an https URL run once per ended call.
    "hooks": HooksSpec(),
})


def iter_paths(spec: Spec, parent: str = ""):
    """Every (dotted path, spec) pair below ``spec``, depth first."""
    if isinstance(spec, Obj):
        for key, child in spec.fields.items():
            path = f"{parent}.{key}" if parent else key
            yield path, child
            yield from iter_paths(child, path)


ALL_PATHS: tuple[str, ...] = tuple(path for path, _ in iter_paths(CONFIG_SCHEMA))
SECRET_PATHS: tuple[str, ...] = tuple(
    path for path, spec in iter_paths(CONFIG_SCHEMA) if spec.secret)
