"""Defaults, legacy values, the convenience properties and redaction."""

from __future__ import annotations

import pytest

from voicecall_cli.core.config import parse_config_text

from .util import HOME_ENV, TWILIO_OK, from_obj

EXPECTED_DEFAULTS = {
    "enabled": True,
    "provider": "mock",
    "inboundPolicy": "disabled",
    "allowFrom": [],
    "outbound": {"defaultMode": "notify", "notifyHangupDelaySec": 3, "machineDetection": "off"},
    "maxDurationSeconds": 300,
    "staleCallReaperSeconds": 0,
    "silenceTimeoutMs": 800,
    "transcriptTimeoutMs": 180000,
    "ringTimeoutMs": 30000,
    "maxConcurrentCalls": 1,
    "serve": {"port": 3334, "bind": "127.0.0.1", "path": "/voice/webhook"},
    "tailscale": {"mode": "off", "path": "/voice/webhook"},
    "tunnel": {"provider": "none", "allowNgrokFreeTierLoopbackBypass": False},
    "webhookSecurity": {"allowedHosts": [], "trustForwardingHeaders": False,
                        "trustedProxyIPs": []},
    "streaming": {
        "enabled": False, "sttProvider": "openai-realtime",
        "scriptedTranscripts": ["Yes, that works for me.", "No, that's all."],
        "openaiRealtimeUrl": "wss://api.openai.com/v1/realtime?intent=transcription",
        "sttModel": "gpt-4o-transcribe",
        "silenceDurationMs": 800, "vadThreshold": 0.5, "streamPath": "/voice/stream",
        "preStartTimeoutMs": 5000, "maxPendingConnections": 32,
        "maxPendingConnectionsPerIp": 4, "maxConnections": 128, "maxInboundStreams": 1,
    },
    "realtime": {
        "enabled": False, "provider": "openai", "model": "gpt-realtime", "voice": "marin",
        "transcriptionModel": "gpt-4o-transcribe", "vadThreshold": 0.5,
        "silenceDurationMs": 500, "prefixPaddingMs": 300,
        "baseUrl": "wss://api.openai.com/v1/realtime", "maxReconnects": 3,
    },
    "skipSignatureVerification": False,
    "stt": {"provider": "openai", "model": "whisper-1"},
    "responseModel": "openai/gpt-4o-mini", "responseBaseUrl": "https://api.openai.com/v1",
    "responseTimeoutMs": 30000,
    "twilio": {"apiBaseUrl": "https://api.twilio.com"},
    "telnyx": {"apiBaseUrl": "https://api.telnyx.com", "voice": "female", "language": "en-US"},
    "plivo": {"apiBaseUrl": "https://api.plivo.com", "voice": "WOMAN", "language": "en-US"},
    "mock": {
        "ringDelayMs": 200, "answerDelayMs": 400, "outcome": "answer",
        "replies": ["Yes, tomorrow at ten works for me.", "No, that's everything. Thank you!"],
        "replyDelayMs": 300,
        "answeredBy": "human",
        "greetingMs": 1500,
    },
    "mcp": {"requireConfirmation": False},
    "recording": {"enabled": False},
    "store": "/home/ada/.local/state/voicecall",
}


def test_empty_config_has_every_default_and_nothing_else():
    config = from_obj({})
    assert config.data == EXPECTED_DEFAULTS
    assert config.warnings == []
    assert config.enabled


def test_properties_of_the_default_config():
    config = from_obj({})
    assert config.provider == "mock"
    assert config.from_number == "+15550000000"
    assert (config.serve_bind, config.serve_port, config.serve_path) == (
        "127.0.0.1", 3334, "/voice/webhook")
    assert str(config.store_dir) == "/home/ada/.local/state/voicecall"
    assert config.control_socket is None
    assert config.mock["outcome"] == "answer"
    assert config.get("streaming.vadThreshold") == 0.5
    assert config.get("toNumber") is None
    assert config.get("tts.openai.voice", "alloy") == "alloy"


def test_store_default_follows_xdg_state_home():
    config = from_obj({}, {"HOME": "/home/ada", "XDG_STATE_HOME": "/var/state"})
    assert str(config.store_dir) == "/var/state/voicecall"


def test_store_tilde_is_expanded_with_home_from_env():
    assert str(from_obj({"store": "~/calls"}).store_dir) == "/home/ada/calls"
    assert from_obj({"controlSocket": "~/vc.sock"}).control_socket == "/home/ada/vc.sock"


@pytest.mark.parametrize(("written", "served"), [
    ("/voice/webhook", "/voice/webhook"),
    ("voice/webhook/", "/voice/webhook"),
    ("/", "/"),
    ("///", "/"),
    ("  ", "/"),
])
def test_serve_path_is_normalised(written, served):
    assert from_obj({"serve": {"path": written}}).serve_path == served


def test_given_values_replace_defaults_and_siblings_keep_theirs():
    config = from_obj({"serve": {"port": 0}, "streaming": {"vadThreshold": 0}})
    assert config.serve_port == 0
    assert config.get("serve.bind") == "127.0.0.1"
    assert config.get("streaming.vadThreshold") == 0
    assert config.get("streaming.maxConnections") == 128


def test_null_counts_as_unset():
    config = from_obj({"serve": {"port": None}, "toNumber": None})
    assert config.serve_port == 3334
    assert config.get("toNumber") is None


def test_integral_floats_are_integers():
    config = from_obj({"maxDurationSeconds": 120.0})
    assert config.get("maxDurationSeconds") == 120
    assert isinstance(config.get("maxDurationSeconds"), int)


def test_mock_optional_hangup_keys_are_absent_unless_set():
    assert "hangupAfterReplies" not in from_obj({}).mock
    mock = from_obj({"mock": {"hangupAfterReplies": 0, "hangupAfterMs": 1500,
                              "outcome": "busy", "replies": []}}).mock
    assert (mock["hangupAfterReplies"], mock["hangupAfterMs"]) == (0, 1500)
    assert mock["outcome"] == "busy"
    assert mock["replies"] == []


def test_legacy_provider_log_becomes_mock_with_a_warning():
    config = from_obj({"provider": "log"})
    assert config.provider == "mock"
    assert config.warnings == ['provider "log" is deprecated: using "mock"']


def test_legacy_twilio_from_becomes_from_number_with_a_warning():
    config = from_obj({"provider": "twilio",
                       "twilio": {"accountSid": "AC1", "authToken": "t",
                                  "from": "+15550001111"}})
    assert config.from_number == "+15550001111"
    assert "twilio.from is deprecated: use fromNumber" in config.warnings


def test_from_number_is_none_for_a_disabled_carrier_without_one():
    config = from_obj({"enabled": False, "provider": "twilio"})
    assert config.from_number is None


def test_redacted_hides_every_secret_that_is_set():
    config = from_obj({
        **TWILIO_OK,
        "tunnel": {"ngrokAuthToken": "ngrok-secret"},
        "streaming": {"openaiApiKey": "sk-stream"},
        "tts": {"openai": {"apiKey": "sk-tts", "voice": "coral"},
                "elevenlabs": {"apiKey": "el-secret"}},
    })
    shown = config.redacted()
    assert shown["twilio"] == {"accountSid": "***", "authToken": "***",
                               "apiBaseUrl": "https://api.twilio.com"}
    assert shown["tunnel"]["ngrokAuthToken"] == "***"
    assert shown["streaming"]["openaiApiKey"] == "***"
    assert shown["tts"] == {"openai": {"apiKey": "***", "voice": "coral"},
                            "elevenlabs": {"apiKey": "***"}}
    assert "openaiApiKey" not in from_obj({}).redacted()["streaming"]
    assert config.get("twilio.authToken") == "tok"  # the real value is untouched
    for secret in ("ngrok-secret", "sk-stream", "sk-tts", "el-secret", "tok"):
        assert secret not in repr(config)


def test_parse_config_text_is_pure_and_has_no_source():
    config = parse_config_text('provider = "mock"', "toml", HOME_ENV)
    assert config.source is None
