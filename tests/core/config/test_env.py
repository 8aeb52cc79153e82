"""Environment fallbacks (reference 1.5) and their precedence."""

from __future__ import annotations

import pytest

from .util import errors_of, from_obj

TWILIO_ENV = {"TWILIO_ACCOUNT_SID": "ACenv", "TWILIO_AUTH_TOKEN": "env-token"}
TELNYX_ENV = {"TELNYX_API_KEY": "KEYenv", "TELNYX_CONNECTION_ID": "conn-env",
              "TELNYX_PUBLIC_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
PLIVO_ENV = {"PLIVO_AUTH_ID": "MAenv", "PLIVO_AUTH_TOKEN": "env-token"}


@pytest.mark.parametrize(("provider", "env", "paths"), [
    ("twilio", TWILIO_ENV, ("twilio.accountSid", "twilio.authToken")),
    ("telnyx", TELNYX_ENV, ("telnyx.apiKey", "telnyx.connectionId", "telnyx.publicKey")),
    ("plivo", PLIVO_ENV, ("plivo.authId", "plivo.authToken")),
])
def test_carrier_credentials_may_come_only_from_env(provider, env, paths):
    config = from_obj({"provider": provider, "fromNumber": "+15550001234"}, env)
    for path, value in zip(paths, env.values(), strict=True):
        assert config.get(path) == value
        assert config.env_sources[path] in env


def test_config_values_win_over_env():
    config = from_obj({"provider": "twilio", "fromNumber": "+15550001234",
                       "twilio": {"accountSid": "ACfile"}}, TWILIO_ENV)
    assert config.get("twilio.accountSid") == "ACfile"
    assert config.get("twilio.authToken") == "env-token"
    assert config.env_sources == {"twilio.authToken": "TWILIO_AUTH_TOKEN"}


def test_only_the_selected_carriers_variables_are_read():
    config = from_obj({"provider": "mock"}, {**TWILIO_ENV, **TELNYX_ENV, **PLIVO_ENV})
    assert config.get("twilio") == {"apiBaseUrl": "https://api.twilio.com"}
    assert config.get("telnyx.apiKey") is None
    assert config.get("plivo.authId") is None


def test_twilio_from_number_may_come_from_env():
    config = from_obj({"provider": "twilio"},
                      {**TWILIO_ENV, "TWILIO_FROM_NUMBER": "+15550009999"})
    assert config.from_number == "+15550009999"
    assert errors_of({"provider": "twilio"}, TWILIO_ENV) == {
        "fromNumber": "fromNumber is required (or set TWILIO_FROM_NUMBER env)"}


def test_ngrok_variables_apply_to_any_provider():
    config = from_obj({}, {"NGROK_AUTHTOKEN": "ngrok-env", "NGROK_DOMAIN": "v.example.com"})
    assert config.get("tunnel.ngrokAuthToken") == "ngrok-env"
    assert config.get("tunnel.ngrokDomain") == "v.example.com"
    assert config.get("tunnel.provider") == "none"


def test_openai_key_fills_streaming_and_tts_and_elevenlabs_fills_tts():
    config = from_obj({}, {"OPENAI_API_KEY": "sk-env", "ELEVENLABS_API_KEY": "el-env"})
    assert config.get("streaming.openaiApiKey") == "sk-env"
    assert config.get("tts.openai.apiKey") == "sk-env"
    assert config.get("tts.elevenlabs.apiKey") == "el-env"


def test_configured_api_keys_win_over_env():
    config = from_obj({"streaming": {"openaiApiKey": "sk-file"},
                       "tts": {"openai": {"apiKey": "sk-tts-file", "voice": "coral"}}},
                      {"OPENAI_API_KEY": "sk-env"})
    assert config.get("streaming.openaiApiKey") == "sk-file"
    assert config.get("tts.openai") == {"apiKey": "sk-tts-file", "voice": "coral"}


def test_empty_variables_count_as_unset():
    errors = errors_of({"provider": "twilio", "fromNumber": "+15550001234"},
                       {"TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": "  "})
    assert set(errors) == {"twilio.accountSid", "twilio.authToken"}


def test_variables_are_stripped():
    config = from_obj({"provider": "twilio", "fromNumber": "+15550001234"},
                      {"TWILIO_ACCOUNT_SID": "ACenv\n", "TWILIO_AUTH_TOKEN": " tok "})
    assert config.get("twilio.accountSid") == "ACenv"
    assert config.get("twilio.authToken") == "tok"


def test_a_bad_value_from_env_names_its_variable_and_not_its_value():
    errors = errors_of({"provider": "twilio"}, {**TWILIO_ENV, "TWILIO_FROM_NUMBER": "5550001"})
    assert errors == {"fromNumber": "Expected E.164 format, e.g. +15550001234 "
                                    "(value from TWILIO_FROM_NUMBER)"}


def test_env_is_never_read_implicitly(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "ACprocess")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "process-token")
    errors = errors_of({"provider": "twilio", "fromNumber": "+15550001234"}, {})
    assert set(errors) == {"twilio.accountSid", "twilio.authToken"}


def test_wrongly_shaped_section_is_reported_not_overwritten_by_env():
    errors = errors_of({"provider": "twilio", "fromNumber": "+15550001234", "twilio": "x"},
                       TWILIO_ENV)
    assert errors == {"twilio": "must be an object (a table)"}
