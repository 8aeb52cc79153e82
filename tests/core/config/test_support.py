"""What this build acts on: the start-up check the daemon and ``config validate`` share, and the
warnings for settings that are accepted but not acted on."""

from __future__ import annotations

import json

import pytest

from voicecall_cli.core.config import (
    IMPLEMENTED_PROVIDERS,
    PROVIDERS,
    ConfigError,
    check_startup,
    parse_config_text,
    startup_issues,
)

from .util import HOME_ENV, TWILIO_OK, from_obj

PUBLIC_URL = "https://voice.example.com/voice/webhook"
TWILIO_PUBLIC = {**TWILIO_OK, "publicUrl": PUBLIC_URL}
PROXY = {"allowedHosts": ["voice.example.com"], "trustedProxyIPs": ["10.0.0.1"]}


def issues_of(obj, env=None) -> dict[str, str]:
    return {issue.path: issue.message for issue in startup_issues(from_obj(obj, env))}


# ---- start-up errors -------------------------------------------------------------------------

def test_a_complete_mock_or_twilio_config_starts():
    for obj in ({}, TWILIO_PUBLIC):
        config = from_obj(obj)
        assert startup_issues(config) == []
        check_startup(config)  # does not raise


def test_every_carrier_the_schema_accepts_is_built():
    assert set(PROVIDERS) == set(IMPLEMENTED_PROVIDERS)


@pytest.mark.parametrize("provider", ["telnyx", "plivo"])
def test_every_carrier_without_a_public_url_is_refused_at_public_url(provider):
    credentials = {"telnyx": {"apiKey": "k", "connectionId": "c",
                              "publicKey": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
                   "plivo": {"authId": "MA1", "authToken": "t"}}[provider]
    obj = {"provider": provider, "fromNumber": "+15550001234", provider: credentials}
    assert list(issues_of(obj)) == ["publicUrl"]
    assert issues_of({**obj, "publicUrl": PUBLIC_URL}) == {}
    with pytest.raises(ConfigError) as info:
        check_startup(from_obj(obj))
    assert info.value.path == "publicUrl"


def test_twilio_without_any_public_url_is_refused_and_told_what_to_set():
    message = issues_of(TWILIO_OK)["publicUrl"]
    assert message.startswith('publicUrl is required with provider "twilio": Twilio cannot '
                              "reach the daemon's own webhook URL "
                              "http://127.0.0.1:3334/voice/webhook.")
    assert "Set publicUrl to the public https URL" in message
    assert "`ngrok http 3334`" in message
    assert "webhookSecurity.allowedHosts and webhookSecurity.trustedProxyIPs" in message
    assert "secret" not in message and "tok" not in message


def test_the_unreachable_url_follows_serve():
    message = issues_of({**TWILIO_OK, "serve": {"bind": "::1", "port": 4000, "path": "hook/"}})
    assert "http://[::1]:4000/hook." in message["publicUrl"]
    assert "`ngrok http 4000`" in message["publicUrl"]


def test_a_configured_tunnel_gives_the_public_url():
    for tunnel in ({"tunnel": {"provider": "ngrok"}}, {"tailscale": {"mode": "funnel"}},
                   {"tunnel": {"provider": "tailscale-serve"}}):
        assert issues_of({**TWILIO_OK, **tunnel}) == {}
    assert "publicUrl" in issues_of({**TWILIO_OK, "tunnel": {"provider": "none"}})
    message = issues_of(TWILIO_OK)["publicUrl"]
    assert 'tunnel.provider "ngrok" or "tailscale-funnel"' in message


def test_a_carrier_on_this_machine_reaches_the_local_url():
    """The bundled simulator (what `voicecall demo --carrier twilio` runs) is on loopback."""
    for host in ("127.0.0.1:8123", "localhost:8123", "[::1]:8123"):
        twilio = {**TWILIO_OK["twilio"], "apiBaseUrl": f"http://{host}"}
        assert issues_of({**TWILIO_OK, "twilio": twilio}) == {}
    remote = {**TWILIO_OK["twilio"], "apiBaseUrl": "https://twilio-proxy.example.com"}
    assert "publicUrl" in issues_of({**TWILIO_OK, "twilio": remote})


def test_a_trusted_reverse_proxy_starts_with_a_warning_about_outbound_calls():
    config = from_obj({**TWILIO_OK, "webhookSecurity": PROXY})
    assert startup_issues(config) == []
    assert config.warnings == [
        "publicUrl is unset: inbound webhooks through the trusted proxy are checked against "
        "their forwarded host, but outbound calls give the carrier the daemon's own URL "
        "http://127.0.0.1:3334/voice/webhook, which it cannot reach; set publicUrl for them"]
    streaming = from_obj({**TWILIO_OK, "webhookSecurity": PROXY,
                          "streaming": {"enabled": True, "sttProvider": "scripted"}})
    assert "outbound calls and media streams give" in streaming.warnings[0]


def test_allowed_hosts_without_trusted_proxy_ips_is_no_proxy_setup():
    obj = {**TWILIO_OK, "webhookSecurity": {"allowedHosts": ["voice.example.com"]}}
    assert "publicUrl" in issues_of(obj)
    assert from_obj(obj).warnings == [
        "webhookSecurity.allowedHosts has no effect while webhookSecurity.trustedProxyIPs is "
        "empty: forwarded headers are trusted only from those proxy addresses"]


@pytest.mark.parametrize(("model", "expected"), [
    ("anthropic/claude-sonnet", 'provider "anthropic" cannot answer calls in this build '
                                "(supported: openai; an OpenAI-compatible server works as "
                                '"openai/<model>" with responseBaseUrl)'),
    ("openai/", 'names no model after "openai/"'),
])
def test_an_auto_reply_model_this_build_cannot_call_is_refused(model, expected):
    assert issues_of({"responseModel": model}) == {"responseModel": expected}


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "gpt-4o", "OpenAI/ft:gpt-4o/x"])
def test_openai_reply_models_start(model):
    assert issues_of({"responseModel": model}) == {}


def test_disabled_voice_calls_are_the_one_issue():
    text = json.dumps({"plugins": {"entries": {"voice-call": {
        "enabled": False, "config": {"provider": "telnyx"}}}}})
    config = parse_config_text(text, ".json", HOME_ENV)
    assert [str(i) for i in startup_issues(config)] == [
        "plugins.entries.voice-call.enabled: voice calls are disabled (enabled = false)"]


def test_openclaw_files_name_the_full_key_path():
    text = json.dumps({"plugins": {"entries": {"voice-call": {"config": TWILIO_OK}}}})
    config = parse_config_text(text, ".json", HOME_ENV)
    [issue] = startup_issues(config)
    assert issue.path == "plugins.entries.voice-call.config.publicUrl"
    assert issue.message.startswith("plugins.entries.voice-call.config.publicUrl is required")


# ---- set but not acted on as written --------------------------------------------------------

def test_public_url_wins_over_a_tunnel():
    config = from_obj({**TWILIO_PUBLIC, "tunnel": {"provider": "tailscale-funnel"},
                       "tailscale": {"mode": "serve"}})
    assert startup_issues(config) == []
    assert config.warnings == [
        "tunnel.provider is ignored: publicUrl is set, and the daemon starts no tunnel when "
        "it is"]


def test_tunnel_provider_wins_over_the_legacy_tailscale_block():
    config = from_obj({**TWILIO_OK, "tunnel": {"provider": "ngrok"},
                       "tailscale": {"mode": "serve"}})
    assert config.warnings == [
        'tailscale.mode "serve" is ignored: tunnel.provider "ngrok" starts the tunnel']


def test_the_off_values_of_tunnel_and_tailscale_earn_no_warning():
    config = from_obj({"tunnel": {"provider": "none"}, "tailscale": {"mode": "off",
                                                                     "path": "/voice/webhook"}})
    assert config.warnings == []


def test_ngrok_keys_without_ngrok_are_named_but_not_from_the_environment():
    written = from_obj({"tunnel": {"ngrokDomain": "voice.example.com"}})
    assert written.warnings == [
        'tunnel.ngrokDomain is not used: tunnel.provider is not "ngrok"']
    with_ngrok = from_obj({"tunnel": {"provider": "ngrok", "ngrokDomain": "voice.example.com"}})
    assert with_ngrok.warnings == []
    from_env = from_obj({}, {**HOME_ENV, "NGROK_AUTHTOKEN": "2abc", "NGROK_DOMAIN": "x.io"})
    assert from_env.warnings == []


def test_the_ngrok_loopback_bypass_without_ngrok_has_no_effect():
    config = from_obj({**TWILIO_PUBLIC, "tunnel": {"allowNgrokFreeTierLoopbackBypass": True}})
    assert config.warnings == [
        "tunnel.allowNgrokFreeTierLoopbackBypass has no effect: it applies only with "
        'tunnel.provider "ngrok" and a loopback serve.bind']


def test_keys_nothing_reads_are_named():
    config = from_obj({"silenceTimeoutMs": 900, "stt": {"model": "whisper-1"},
                       "tts": {"auto": "always", "summaryModel": "openai/gpt-4o-mini",
                               "openai": {"voice": "coral"}}})
    assert config.warnings == [
        "silenceTimeoutMs is not used: the pause that ends a caller's turn is "
        "streaming.silenceDurationMs",
        "stt is not used (a legacy block): transcription is set with streaming.sttProvider "
        "and streaming.sttModel",
        "tts.auto is not used for calls (it is for OpenClaw's chat TTS)",
        "tts.summaryModel is not used for calls (it is for OpenClaw's chat TTS)",
    ]


def test_chat_tts_keys_from_messages_tts_are_openclaws_and_not_named():
    text = json.dumps({"messages": {"tts": {"auto": "always", "provider": "openai"}},
                       "plugins": {"entries": {"voice-call": {"config": {
                           "tts": {"mode": "final"}}}}}})
    assert parse_config_text(text, ".json", HOME_ENV).warnings == [
        "plugins.entries.voice-call.config.tts.mode is not used for calls (it is for "
        "OpenClaw's chat TTS)"]


def test_streaming_on_the_mock_carrier_has_no_effect():
    assert from_obj({"streaming": {"enabled": True}}).warnings == [
        'streaming.enabled has no effect with provider "mock": media streams are the carriers\'']
