"""Loading configuration files: the three formats, whole OpenClaw files, file problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voicecall_cli.core.config import ConfigError, load_config, parse_config_text

from .util import HOME_ENV

TOML = """
provider = "twilio"
fromNumber = "+15550001234"

[twilio]
accountSid = "AC123"
authToken = "secret-token"

[serve]
port = 4000
"""

JSON5 = """
// the seed's README shape, with comments and trailing commas
{
  provider: "twilio",
  fromNumber: "+15550001234",
  twilio: { accountSid: "AC123", authToken: "secret-token", },
  serve: { port: 4000, },
}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "text"), [
    ("config.toml", TOML),
    ("config.json", json.dumps({"provider": "twilio", "fromNumber": "+15550001234",
                                "twilio": {"accountSid": "AC123", "authToken": "secret-token"},
                                "serve": {"port": 4000}})),
    ("config.json5", JSON5),
])
def test_each_format_loads_the_same_config(tmp_path, name, text):
    path = write(tmp_path, name, text)
    config = load_config(path, HOME_ENV, explicit=True)
    assert config.source == path
    assert config.provider == "twilio"
    assert config.from_number == "+15550001234"
    assert config.get("twilio.authToken") == "secret-token"
    assert config.serve_port == 4000
    assert config.serve_bind == "127.0.0.1"


OPENCLAW = """
{
  agents: { defaults: { model: { primary: "openai/gpt-5" } } },
  messages: {
    tts: { provider: "openai", openai: { model: "gpt-4o-mini-tts", voice: "alloy" } },
  },
  plugins: {
    entries: {
      "voice-call": {
        enabled: true,
        config: {
          provider: "mock",
          serve: { port: 3335 },
          tts: { openai: { voice: "coral" } },
        },
      },
    },
  },
}
"""


def test_whole_openclaw_file_uses_the_plugin_entry_and_merges_messages_tts(tmp_path):
    config = load_config(write(tmp_path, "openclaw.json5", OPENCLAW), HOME_ENV, explicit=True)
    assert config.provider == "mock"
    assert config.serve_port == 3335
    assert config.get("tts") == {
        "provider": "openai", "openai": {"model": "gpt-4o-mini-tts", "voice": "coral"}}
    assert config.enabled


def test_openclaw_errors_name_the_full_key_path(tmp_path):
    text = OPENCLAW.replace("port: 3335", "prot: 3335")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "openclaw.json5", text), HOME_ENV, explicit=True)
    assert str(info.value) == (
        "plugins.entries.voice-call.config.serve.prot: unknown key "
        "plugins.entries.voice-call.config.serve.prot "
        "(did you mean plugins.entries.voice-call.config.serve.port?)")


def test_openclaw_provider_checks_use_the_reference_wording(tmp_path):
    text = OPENCLAW.replace('provider: "mock"', 'provider: "twilio", fromNumber: "+15550001234"')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "openclaw.json5", text), HOME_ENV, explicit=True)
    assert [issue.message for issue in info.value.issues] == [
        "plugins.entries.voice-call.config.twilio.accountSid is required "
        "(or set TWILIO_ACCOUNT_SID env)",
        "plugins.entries.voice-call.config.twilio.authToken is required "
        "(or set TWILIO_AUTH_TOKEN env)",
    ]


def test_openclaw_entry_disabled_switches_voice_calls_off(tmp_path):
    text = OPENCLAW.replace("enabled: true", "enabled: false")
    config = load_config(write(tmp_path, "openclaw.json5", text), HOME_ENV, explicit=True)
    assert not config.enabled
    with pytest.raises(ConfigError) as info:
        config.require_enabled()
    assert info.value.path == "plugins.entries.voice-call.enabled"
    assert "voice calls are disabled (enabled = false)" in str(info.value)


def test_openclaw_file_without_our_entry_uses_defaults_with_a_warning():
    config = parse_config_text('{"plugins": {"entries": {}}}', ".json", HOME_ENV)
    assert config.provider == "mock"
    assert any("no plugins.entries.voice-call entry" in w for w in config.warnings)


def test_openclaw_wrapper_of_the_wrong_shape_is_reported():
    with pytest.raises(ConfigError) as info:
        parse_config_text('{"plugins": {"entries": {"voice-call": []}}, "messages": 3}',
                          ".json", HOME_ENV)
    paths = [issue.path for issue in info.value.issues]
    assert paths == ["plugins.entries.voice-call", "messages"]


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("bad.toml", 'provider = "mock"\nserve = {port = }\n', "invalid TOML:"),
    ("bad.json", '{\n  "provider": "mock",\n  "serve": }', "invalid JSON (or JSON5):"),
    ("bad.json5", '{\n  provider: "mock"\n  serve: {}\n}', "invalid JSON5:"),
])
def test_parse_errors_name_the_file_and_position(tmp_path, name, text, expected):
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, HOME_ENV, explicit=True)
    issue = info.value.issues[0]
    assert issue.path == str(path)
    assert issue.message.startswith(expected)
    assert "line" in issue.message
    assert "column" in issue.message


def test_json5_parse_errors_do_not_quote_file_content():
    with pytest.raises(ConfigError) as info:
        parse_config_text("{\n twilio: {authToken: Zsecret}\n}", ".json5", HOME_ENV)
    assert "Z" not in str(info.value)
    assert str(info.value) == "<string>: invalid JSON5: Unexpected character (line 2, column 22)"


def test_json_parse_errors_do_not_quote_file_content():
    with pytest.raises(ConfigError) as info:
        parse_config_text('{\n "twilio": {"authToken": Zsecret}\n}', ".json", HOME_ENV)
    assert str(info.value) == ("<string>: invalid JSON (or JSON5): Unexpected character "
                               "(line 2, column 26)")


def test_toml_parse_errors_do_not_quote_the_character():
    with pytest.raises(ConfigError) as info:
        parse_config_text('[twilio]\nauthToken = "se\x7fcret"\n', ".toml", HOME_ENV)
    assert str(info.value) == ("<string>: invalid TOML: Illegal character "
                               "(at line 2, column 16)")


def test_parse_error_uses_the_given_source_name():
    with pytest.raises(ConfigError) as info:
        parse_config_text("[serve", ".toml", HOME_ENV, source="inline.toml")
    assert info.value.path == "inline.toml"


def test_top_level_must_be_an_object():
    with pytest.raises(ConfigError, match="top level must be an object"):
        parse_config_text("[1, 2]", ".json", HOME_ENV)


@pytest.mark.parametrize("suffix", [".toml", ".json", ".json5"])
def test_blank_file_is_the_default_config(suffix):
    assert parse_config_text("  \n", suffix, HOME_ENV).provider == "mock"


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b'\xef\xbb\xbf{"provider": "mock"}')
    assert load_config(path, HOME_ENV, explicit=True).provider == "mock"


def test_unsupported_suffix_is_an_error(tmp_path):
    path = write(tmp_path, "config.yaml", "provider: mock\n")
    with pytest.raises(ConfigError, match=r"unsupported config file type '\.yaml'"):
        load_config(path, HOME_ENV, explicit=True)


def test_missing_file_is_an_error_only_when_explicit(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, HOME_ENV, explicit=True)
    assert str(info.value) == f"{path}: config file not found"
    config = load_config(path, HOME_ENV, explicit=False)
    assert config.provider == "mock"
    assert config.source is None


def test_unreadable_path_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path, HOME_ENV, explicit=False)


def test_non_utf8_file_is_an_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'provider = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, HOME_ENV, explicit=True)


def test_no_path_means_voicecall_config_or_the_xdg_default(tmp_path):
    xdg = tmp_path / "xdg"
    (xdg / "voicecall").mkdir(parents=True)
    (xdg / "voicecall" / "config.toml").write_text("[serve]\nport = 4100\n")
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(xdg)}
    assert load_config(None, env, explicit=False).serve_port == 4100

    named = write(tmp_path, "named.json", '{"serve": {"port": 4200}}')
    assert load_config(None, {**env, "VOICECALL_CONFIG": str(named)},
                       explicit=False).serve_port == 4200
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(None, {**env, "VOICECALL_CONFIG": str(tmp_path / "gone.toml")},
                    explicit=False)


def test_relative_paths_are_anchored_at_the_config_file(tmp_path):
    path = write(tmp_path, "config.toml", 'store = "state"\ncontrolSocket = "run/ctl.sock"\n')
    config = load_config(path, HOME_ENV, explicit=True)
    assert config.store_dir == tmp_path / "state"
    assert config.control_socket == str(tmp_path / "run" / "ctl.sock")


# ---- openclaw.json is JSON5; an OpenClaw file may hold only messages.tts ------------------------

def test_openclaw_json_written_in_json5_loads(tmp_path):
    """OpenClaw writes ``openclaw.json`` in JSON5: comments, bare keys, trailing commas."""
    config = load_config(write(tmp_path, "openclaw.json", OPENCLAW), HOME_ENV, explicit=True)
    assert config.serve_port == 3335
    assert config.get("tts.openai") == {"model": "gpt-4o-mini-tts", "voice": "coral"}


def test_strict_json_still_loads_as_json(tmp_path):
    path = write(tmp_path, "config.json", '{"serve": {"port": 4001}}')
    assert load_config(path, HOME_ENV, explicit=True).serve_port == 4001


MESSAGES_TTS_ONLY = """
// an OpenClaw config without the voice-call plugin entry
{
  agents: { defaults: { workspace: "~/clawd" } },
  messages: {
    tts: {
      auto: "always",
      provider: "elevenlabs",
      elevenlabs: { voiceId: "pMsXgVXv3BLzUgSXRplE", modelId: "eleven_flash_v2_5" },
    },
  },
}
"""


def test_openclaw_file_with_only_messages_tts_uses_defaults_and_its_tts(tmp_path):
    path = write(tmp_path, "openclaw.json", MESSAGES_TTS_ONLY)
    config = load_config(path, HOME_ENV, explicit=True)
    defaults = parse_config_text("", ".toml", HOME_ENV)
    assert config.provider == "mock"
    assert config.get("tts") == {
        "auto": "always", "provider": "elevenlabs",
        "elevenlabs": {"voiceId": "pMsXgVXv3BLzUgSXRplE", "modelId": "eleven_flash_v2_5"}}
    assert {k: v for k, v in config.data.items() if k not in ("tts", "store")} == {
        k: v for k, v in defaults.data.items() if k not in ("tts", "store")}
    assert config.warnings == [
        "this OpenClaw config has no plugins.entries.voice-call entry: using the defaults "
        "(tts from messages.tts)"]


def test_messages_beside_our_own_keys_is_an_unknown_key_not_an_openclaw_file():
    with pytest.raises(ConfigError) as info:
        parse_config_text('{"provider": "twilio", "messages": {"tts": {}}}', ".json", HOME_ENV)
    assert info.value.path == "messages"


def test_messages_tts_in_the_newer_providers_shape_is_read_and_unknown_keys_are_left_out():
    text = json.dumps({"messages": {"tts": {
        "provider": "openai", "openai": {"model": "gpt-4o-mini-tts"},
        "providers": {"openai": {"voice": "alloy", "style": "calm"}, "microsoft": {}},
        "persona": "x"}}})
    config = parse_config_text(text, ".json", HOME_ENV)
    assert config.get("tts") == {
        "provider": "openai", "openai": {"model": "gpt-4o-mini-tts", "voice": "alloy"}}
    assert config.warnings[1:] == [
        "messages.tts.persona is not used for calls",
        "messages.tts.providers.openai.style is not used for calls",
        "messages.tts.providers.microsoft is not used for calls"]
