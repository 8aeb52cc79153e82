"""Deep merge rules (reference 11: deep-merge.test, telephony-tts.test)."""

from __future__ import annotations

import json

import pytest

from voicecall_cli.core.config import ConfigError, deep_merge, parse_config_text

from .util import HOME_ENV


def test_nested_objects_merge():
    base = {"openai": {"model": "gpt-4o-mini-tts", "voice": "alloy"}, "provider": "openai"}
    override = {"openai": {"voice": "coral"}}
    assert deep_merge(base, override) == {
        "openai": {"model": "gpt-4o-mini-tts", "voice": "coral"}, "provider": "openai"}


def test_absent_keys_keep_the_base_and_null_is_kept():
    assert deep_merge({"a": 1, "b": 2}, {"b": None}) == {"a": 1, "b": None}


def test_scalars_and_arrays_replace():
    assert deep_merge({"a": [1, 2, 3], "b": "x"}, {"a": [9], "b": 5}) == {"a": [9], "b": 5}


def test_an_object_replaces_an_array_and_an_array_an_object():
    assert deep_merge({"a": [1, 2]}, {"a": {"k": 1}}) == {"a": {"k": 1}}
    assert deep_merge({"a": {"k": 1}}, {"a": [1]}) == {"a": [1]}


def test_a_non_object_override_replaces_the_base_wholesale():
    assert deep_merge({"a": 1}, 7) == 7
    assert deep_merge(3, {"a": 1}) == {"a": 1}


def test_dangerous_keys_are_dropped_at_every_level():
    override = json.loads('{"__proto__": {"polluted": true}, "constructor": 1,'
                          ' "openai": {"prototype": 2, "__proto__": {"x": 1}, "model": "safe"}}')
    base = json.loads('{"prototype": 3, "elevenlabs": {"constructor": 4, "voiceId": "v"}}')
    assert deep_merge(base, override) == {"elevenlabs": {"voiceId": "v"},
                                          "openai": {"model": "safe"}}
    assert not hasattr({}, "polluted")


def test_the_result_shares_nothing_with_the_inputs():
    base = {"openai": {"voice": "alloy"}, "list": [{"a": 1}]}
    override = {"elevenlabs": {"voiceId": "v"}}
    merged = deep_merge(base, override)
    merged["openai"]["voice"] = "changed"
    merged["list"][0]["a"] = 2
    merged["elevenlabs"]["voiceId"] = "changed"
    assert base == {"openai": {"voice": "alloy"}, "list": [{"a": 1}]}
    assert override == {"elevenlabs": {"voiceId": "v"}}


def openclaw(tts_base: dict | None, tts: dict | None) -> str:
    entry: dict = {"config": {} if tts is None else {"tts": tts}}
    doc: dict = {"plugins": {"entries": {"voice-call": entry}}}
    if tts_base is not None:
        doc["messages"] = {"tts": tts_base}
    return json.dumps(doc)


def test_plugin_tts_overrides_messages_tts_for_calls():
    text = openclaw({"provider": "openai", "openai": {"model": "gpt-4o-mini-tts"}},
                    {"openai": {"voice": "coral"}})
    config = parse_config_text(text, ".json", HOME_ENV)
    assert config.get("tts.openai.voice") == "coral"
    assert config.get("tts.openai.model") == "gpt-4o-mini-tts"
    assert config.get("tts.provider") == "openai"


def test_messages_tts_alone_is_used_and_override_can_switch_provider():
    base = {"provider": "openai", "openai": {"voice": "alloy"}}
    assert parse_config_text(openclaw(base, None), ".json", HOME_ENV).get("tts") == base
    config = parse_config_text(
        openclaw(base, {"provider": "elevenlabs",
                        "elevenlabs": {"voiceId": "pMsXgVXv3BLzUgSXRplE",
                                       "modelId": "eleven_multilingual_v2"}}), ".json", HOME_ENV)
    assert config.get("tts.provider") == "elevenlabs"
    assert config.get("tts.openai.voice") == "alloy"
    assert config.get("tts.elevenlabs.voiceId") == "pMsXgVXv3BLzUgSXRplE"


def test_proto_keys_in_the_tts_override_are_dropped_and_safe_keys_survive():
    text = ('{"tts": {"__proto__": {"polluted": true},'
            ' "openai": {"__proto__": {"polluted": true}, "model": "safe"}}}')
    config = parse_config_text(text, ".json", HOME_ENV)
    assert config.get("tts") == {"openai": {"model": "safe"}}


def test_merged_tts_is_validated_strictly():
    text = openclaw({"openai": {"voice": 3}}, {"openai": {"modle": "x"}})
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, ".json", HOME_ENV)
    assert str(info.value).splitlines() == [
        "plugins.entries.voice-call.config.tts.openai.modle: unknown key "
        "plugins.entries.voice-call.config.tts.openai.modle "
        "(did you mean plugins.entries.voice-call.config.tts.openai.model?)",
        "plugins.entries.voice-call.config.tts.openai.voice: must be a non-empty string",
    ]
