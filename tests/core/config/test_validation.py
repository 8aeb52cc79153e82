"""Validation: unknown keys, types and ranges, phone numbers, carrier checks, secrecy."""

from __future__ import annotations

import pytest

from voicecall_cli.core.config import SECRET_PATHS, ConfigError, ConfigIssue

from .util import TWILIO_OK, errors_of, from_obj

E164 = "Expected E.164 format, e.g. +15550001234"


# ---- unknown keys and did-you-mean ------------------------------------------------------------

@pytest.mark.parametrize(("config", "path", "message"), [
    ({"serve": {"prot": 1}}, "serve.prot", "unknown key serve.prot (did you mean serve.port?)"),
    ({"fromnumber": "+15550001234"}, "fromnumber",
     "unknown key fromnumber (did you mean fromNumber?)"),
    ({"streaming": {"maxInboundStream": 2}}, "streaming.maxInboundStream",
     "unknown key streaming.maxInboundStream (did you mean streaming.maxInboundStreams?)"),
    ({"tts": {"elevenlabs": {"voiceSettings": {"stabilty": 0.5}}}},
     "tts.elevenlabs.voiceSettings.stabilty",
     "unknown key tts.elevenlabs.voiceSettings.stabilty "
     "(did you mean tts.elevenlabs.voiceSettings.stability?)"),
    ({"port": 3334}, "port", "unknown key port (did you mean serve.port?)"),
    ({"accountSid": "AC1"}, "accountSid",
     "unknown key accountSid (did you mean twilio.accountSid?)"),
    ({"zzz": 1}, "zzz", "unknown key zzz"),
    ({"mock": {"colour": "red"}}, "mock.colour", "unknown key mock.colour"),
])
def test_unknown_keys_are_errors_with_a_suggestion_when_one_is_close(config, path, message):
    assert errors_of(config) == {path: message}


def test_error_text_is_one_line_per_issue_and_path_is_the_first():
    with pytest.raises(ConfigError) as info:
        from_obj({"serve": {"prot": 1, "port": "80"}, "maxConcurrentCalls": 0})
    err = info.value
    assert err.path == "maxConcurrentCalls"
    assert str(err).splitlines() == [
        "maxConcurrentCalls: must be an integer > 0",
        "serve.prot: unknown key serve.prot (did you mean serve.port?)",
        "serve.port: must be an integer between 0 and 65535",
    ]
    assert err.issues[0] == ConfigIssue("maxConcurrentCalls", "must be an integer > 0")


# ---- types and ranges -------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "path", "message"), [
    ({"enabled": "yes"}, "enabled", "must be true or false"),
    ({"skipSignatureVerification": 1}, "skipSignatureVerification", "must be true or false"),
    ({"maxDurationSeconds": 0}, "maxDurationSeconds", "must be an integer > 0"),
    ({"maxDurationSeconds": 1.5}, "maxDurationSeconds", "must be an integer > 0"),
    ({"maxDurationSeconds": True}, "maxDurationSeconds", "must be an integer > 0"),
    ({"staleCallReaperSeconds": -1}, "staleCallReaperSeconds", "must be an integer >= 0"),
    ({"outbound": {"notifyHangupDelaySec": -1}}, "outbound.notifyHangupDelaySec",
     "must be an integer >= 0"),
    ({"serve": {"port": 70000}}, "serve.port", "must be an integer between 0 and 65535"),
    ({"serve": {"path": ""}}, "serve.path", "must be a non-empty string"),
    ({"serve": {"bind": 127}}, "serve.bind", "must be a non-empty string"),
    ({"streaming": {"vadThreshold": 1.5}}, "streaming.vadThreshold",
     "must be a number between 0 and 1"),
    ({"streaming": {"vadThreshold": "0.5"}}, "streaming.vadThreshold",
     "must be a number between 0 and 1"),
    ({"streaming": {"maxInboundStreams": 0}}, "streaming.maxInboundStreams",
     "must be an integer > 0"),
    ({"streaming": {"sttProvider": "deepgram"}}, "streaming.sttProvider",
     'must be one of: openai-realtime, scripted (got "deepgram")'),
    ({"provider": "twillio"}, "provider",
     'must be one of: telnyx, twilio, plivo, mock (got "twillio"; did you mean twilio?)'),
    ({"inboundPolicy": 3}, "inboundPolicy",
     "must be one of: disabled, allowlist, pairing, open"),
    ({"outbound": {"defaultMode": "chat"}}, "outbound.defaultMode",
     'must be one of: notify, conversation (got "chat")'),
    ({"tunnel": {"provider": "cloudflare"}}, "tunnel.provider",
     'must be one of: none, ngrok, tailscale-serve, tailscale-funnel (got "cloudflare")'),
    ({"serve": "3334"}, "serve", "must be an object (a table)"),
    ({"allowFrom": "+15550001234"}, "allowFrom", "must be a list"),
    ({"webhookSecurity": {"trustedProxyIPs": ["100.64.0.1", "proxy.local"]}},
     "webhookSecurity.trustedProxyIPs[1]", "must be an IP address, e.g. 100.64.0.1"),
    ({"webhookSecurity": {"allowedHosts": [""]}}, "webhookSecurity.allowedHosts[0]",
     "must be a non-empty string"),
    ({"publicUrl": "voice.example.com/voice/webhook"}, "publicUrl",
     "must be an http(s) URL, e.g. https://voice.example.com"),
    ({"twilio": {"apiBaseUrl": "ftp://api.twilio.com"}}, "twilio.apiBaseUrl",
     "must be an http(s) URL, e.g. https://voice.example.com"),
    ({"mock": {"outcome": "voicemail"}}, "mock.outcome",
     'must be one of: answer, busy, no-answer, failed (got "voicemail")'),
    ({"mock": {"ringDelayMs": -5}}, "mock.ringDelayMs", "must be an integer >= 0"),
    ({"mock": {"hangupAfterMs": 0}}, "mock.hangupAfterMs", "must be an integer > 0"),
    ({"mock": {"replies": ["ok", 3]}}, "mock.replies[1]", "must be a non-empty string"),
    ({"tts": {"provider": "polly"}}, "tts.provider",
     'must be one of: openai, elevenlabs, edge (got "polly")'),
    ({"tts": {"timeoutMs": 500}}, "tts.timeoutMs", "must be an integer between 1000 and 120000"),
    ({"tts": {"elevenlabs": {"seed": -1}}}, "tts.elevenlabs.seed",
     "must be an integer between 0 and 4294967295"),
    ({"tts": {"elevenlabs": {"voiceSettings": {"speed": 3}}}},
     "tts.elevenlabs.voiceSettings.speed", "must be a number between 0.5 and 2"),
    ({"tts": {"openai": {"voice": ["coral"]}}}, "tts.openai.voice", "must be a non-empty string"),
])
def test_type_and_range_rules(config, path, message):
    assert errors_of(config) == {path: message}


def test_non_finite_numbers_are_rejected():
    errors = errors_of({"streaming": {"vadThreshold": float("nan")}})
    assert errors == {"streaming.vadThreshold": "must be a number between 0 and 1"}


def test_documented_tts_keys_are_accepted():
    tts = {
        "auto": "tagged", "enabled": True, "mode": "final", "provider": "elevenlabs",
        "summaryModel": "openai/gpt-4.1-mini", "modelOverrides": {"enabled": True,
                                                                   "allowSeed": False},
        "openai": {"model": "gpt-4o-mini-tts", "voice": "alloy",
                   "baseUrl": "http://127.0.0.1:9000/v1"},
        "elevenlabs": {"baseUrl": "https://api.elevenlabs.io", "voiceId": "v",
                       "modelId": "eleven_multilingual_v2", "seed": 42,
                       "applyTextNormalization": "auto", "languageCode": "en",
                       "voiceSettings": {"stability": 0.5, "similarityBoost": 0.75, "style": 0,
                                         "useSpeakerBoost": True, "speed": 1.0}},
        "edge": {"enabled": False, "voice": "en-US-MichelleNeural", "lang": "en-US",
                 "outputFormat": "audio-24khz-48kbitrate-mono-mp3", "rate": "+10%",
                 "pitch": "-5%", "volume": "+0%", "saveSubtitles": False,
                 "proxy": "http://proxy", "timeoutMs": 30000},
        "prefsPath": "~/.openclaw/settings/tts.json", "maxTextLength": 4000, "timeoutMs": 30000,
    }
    assert from_obj({"tts": tts}).get("tts") == tts


# ---- phone numbers ----------------------------------------------------------------------------

@pytest.mark.parametrize("number", ["+15550001234", "+442079460958", "+12"])
def test_valid_e164_numbers(number):
    assert from_obj({"toNumber": number}).get("toNumber") == number


@pytest.mark.parametrize("number", ["15550001234", "+05550001234", "+1 555 000 1234",
                                    "+1234567890123456", "+1", 15550001234])
def test_invalid_e164_numbers(number):
    assert errors_of({"toNumber": number}) == {"toNumber": E164}


def test_allow_from_entries_are_checked_one_by_one():
    errors = errors_of({"inboundPolicy": "allowlist",
                        "allowFrom": ["+15550001234", "555-0100", "+15550005678", ""]})
    assert errors == {"allowFrom[1]": E164, "allowFrom[3]": E164}


# ---- carrier checks (reference 1.6) -----------------------------------------------------------

def test_each_configured_carrier_validates():
    assert from_obj(TWILIO_OK).provider == "twilio"
    assert from_obj({"provider": "telnyx", "fromNumber": "+15550001234",
                     "telnyx": {"apiKey": "k", "connectionId": "c",
                                "publicKey": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}})
    assert from_obj({"provider": "plivo", "fromNumber": "+15550001234",
                     "plivo": {"authId": "MA1", "authToken": "t"}})


@pytest.mark.parametrize(("config", "expected"), [
    ({"provider": "twilio", "fromNumber": "+15550001234", "twilio": {"authToken": "t"}},
     {"twilio.accountSid": "twilio.accountSid is required (or set TWILIO_ACCOUNT_SID env)"}),
    ({"provider": "twilio", "fromNumber": "+15550001234", "twilio": {"accountSid": "AC1"}},
     {"twilio.authToken": "twilio.authToken is required (or set TWILIO_AUTH_TOKEN env)"}),
    ({"provider": "telnyx", "fromNumber": "+15550001234",
      "telnyx": {"connectionId": "c", "publicKey": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}},
     {"telnyx.apiKey": "telnyx.apiKey is required (or set TELNYX_API_KEY env)"}),
    ({"provider": "telnyx", "fromNumber": "+15550001234",
      "telnyx": {"apiKey": "k", "connectionId": "c"}},
     {"telnyx.publicKey": "telnyx.publicKey is required (or set TELNYX_PUBLIC_KEY env)"}),
    ({"provider": "telnyx", "fromNumber": "+15550001234", "telnyx": {"apiKey": "k"}},
     {"telnyx.connectionId": "telnyx.connectionId is required (or set TELNYX_CONNECTION_ID env)",
      "telnyx.publicKey": "telnyx.publicKey is required (or set TELNYX_PUBLIC_KEY env)"}),
    ({"provider": "plivo", "fromNumber": "+15550001234", "plivo": {"authToken": "t"}},
     {"plivo.authId": "plivo.authId is required (or set PLIVO_AUTH_ID env)"}),
    ({"provider": "plivo", "fromNumber": "+15550001234", "plivo": {"authId": "MA1"}},
     {"plivo.authToken": "plivo.authToken is required (or set PLIVO_AUTH_TOKEN env)"}),
    ({"provider": "plivo", "plivo": {"authId": "MA1", "authToken": "t"}},
     {"fromNumber": "fromNumber is required"}),
])
def test_carrier_requirements_use_the_reference_wording(config, expected):
    assert errors_of(config) == expected


def test_telnyx_public_key_is_not_required_when_signatures_are_skipped():
    config = from_obj({"provider": "telnyx", "fromNumber": "+15550001234",
                       "skipSignatureVerification": True,
                       "telnyx": {"apiKey": "k", "connectionId": "c"}})
    assert config.warnings[0].startswith("SECURITY WARNING: skipSignatureVerification is true")


def test_mock_needs_no_from_number_or_credentials():
    assert from_obj({"provider": "mock"}).from_number == "+15550000000"


def test_a_mistyped_credential_is_reported_once_not_also_as_missing():
    errors = errors_of({**TWILIO_OK, "twilio": {"accountSid": "AC1", "authToken": 42}})
    assert errors == {"twilio.authToken": "must be a non-empty string"}


def test_all_errors_are_collected():
    errors = errors_of({"provider": "twilio", "fromNumber": "555", "serve": {"port": -1},
                        "streaming": {"enabled": "on"}, "unknown": True})
    assert set(errors) == {"fromNumber", "serve.port", "streaming.enabled", "unknown",
                           "twilio.accountSid", "twilio.authToken"}


# ---- enabled = false --------------------------------------------------------------------------

def test_disabled_config_is_valid_but_refused_for_the_daemon():
    config = from_obj({"enabled": False, "provider": "twilio"})
    assert not config.enabled
    with pytest.raises(ConfigError) as info:
        config.require_enabled()
    assert str(info.value) == "enabled: voice calls are disabled (enabled = false)"
    from_obj({}).require_enabled()


def test_disabled_config_still_gets_its_types_checked():
    assert errors_of({"enabled": False, "serve": {"port": "x"}}) == {
        "serve.port": "must be an integer between 0 and 65535"}


# ---- secrets never appear in messages ---------------------------------------------------------

SECRET = "s3cr3t-VALUE-must-not-leak"


@pytest.mark.parametrize("path", SECRET_PATHS)
@pytest.mark.parametrize("bad", [[SECRET], {"value": SECRET}, 12345678901, ""])
def test_a_wrongly_typed_secret_is_never_echoed(path, bad):
    config: dict = {}
    node = config
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = bad
    with pytest.raises(ConfigError) as info:
        from_obj(config)
    text = str(info.value)
    assert path in text
    assert SECRET not in text
    assert "12345678901" not in text


def test_secrets_under_a_misspelt_key_are_not_echoed():
    errors = errors_of({"twilio": {"authTokn": SECRET}, "tunnel": {"ngrokToken": SECRET}})
    assert errors["twilio.authTokn"] == (
        "unknown key twilio.authTokn (did you mean twilio.authToken?)")
    assert SECRET not in " ".join(errors.values())


def test_secret_paths_cover_the_reference_list():
    assert {"twilio.authToken", "twilio.accountSid", "telnyx.apiKey", "telnyx.publicKey",
            "plivo.authToken", "plivo.authId", "tunnel.ngrokAuthToken", "streaming.openaiApiKey",
            "tts.openai.apiKey", "tts.elevenlabs.apiKey", "hooks.secret",
            "realtime.apiKey"} == set(SECRET_PATHS)


# ---- warnings ---------------------------------------------------------------------------------

def test_streaming_without_an_openai_key_warns():
    twilio = {**TWILIO_OK, "publicUrl": "https://voice.example.com/voice/webhook"}
    config = from_obj({**twilio, "streaming": {"enabled": True}})
    assert config.warnings == [
        "streaming.enabled is true but no OpenAI API key was found (set "
        "streaming.openaiApiKey or OPENAI_API_KEY): callers on media streams will not be "
        "transcribed"]
    assert not from_obj({**twilio, "streaming": {"enabled": True}},
                        {"OPENAI_API_KEY": "sk"}).warnings
    # Scripted transcription (offline development, the demo) needs no key.
    assert not from_obj({**twilio, "streaming": {"enabled": True,
                                                 "sttProvider": "scripted"}}).warnings


def test_realtime_and_streaming_together_are_named_as_alternatives_and_realtime_wins():
    twilio = {**TWILIO_OK, "publicUrl": "https://voice.example.com/voice/webhook"}
    env = {"OPENAI_API_KEY": "sk-env"}
    both = from_obj({**twilio, "streaming": {"enabled": True},
                     "realtime": {"enabled": True}}, env)
    assert both.warnings == [
        "realtime.enabled and streaming.enabled are both true: they are alternatives per call. "
        "The realtime model wins for inbound and conversation calls; notify calls, and a call "
        "whose realtime session cannot be had, use streaming (transcription, reply model, TTS)"]
    assert both.get("realtime.apiKey") == "sk-env"  # OPENAI_API_KEY, as for streaming
    assert not from_obj({**twilio, "realtime": {"enabled": True}}, env).warnings
    assert not from_obj({**twilio, "streaming": {"enabled": True}}, env).warnings


def test_realtime_without_a_key_or_a_media_stream_warns():
    twilio = {**TWILIO_OK, "publicUrl": "https://voice.example.com/voice/webhook"}
    [no_key] = from_obj({**twilio, "realtime": {"enabled": True}}).warnings
    assert "realtime.apiKey or OPENAI_API_KEY" in no_key and "cascaded voice" in no_key
    [mock] = from_obj({"realtime": {"enabled": True, "apiKey": "sk"}}).warnings
    assert 'no effect with provider "mock"' in mock


def test_realtime_settings_are_checked():
    assert set(errors_of({"realtime": {"provider": "gemini", "vadThreshold": 2,
                                       "silenceDurationMs": 0}})) == {
        "realtime.provider", "realtime.vadThreshold", "realtime.silenceDurationMs"}


def test_edge_tts_warns_that_calls_ignore_it():
    assert any('tts.provider "edge"' in w for w in from_obj({"tts": {"provider": "edge"}}).warnings)


def test_a_telnyx_public_key_that_is_not_one_is_refused_with_where_to_find_it():
    problems = errors_of({"provider": "telnyx", "fromNumber": "+15550001234",
                          "telnyx": {"apiKey": "k", "connectionId": "c",
                                     "publicKey": "KEY0123456789ABCDEF"}})
    assert "Mission Control" in problems["telnyx.publicKey"]
