"""The starter file of ``voicecall config init``: it loads, validates and shows the defaults."""

from __future__ import annotations

import re
import tomllib

from voicecall_cli.core.config import load_config, parse_config_text, starter_config_toml

from .util import HOME_ENV


def test_starter_loads_and_validates_as_a_mock_config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(starter_config_toml())
    config = load_config(path, HOME_ENV, explicit=True)
    assert config.provider == "mock"
    assert config.enabled
    assert config.warnings == []


def test_starter_values_are_exactly_the_defaults():
    starter = parse_config_text(starter_config_toml(), ".toml", HOME_ENV)
    defaults = parse_config_text("", ".toml", HOME_ENV)
    assert starter.data == defaults.data


def test_starter_shows_every_main_key():
    written = tomllib.loads(starter_config_toml())
    defaults = parse_config_text("", ".toml", HOME_ENV).data
    # Carrier blocks and the store are commented out; stt and silenceTimeoutMs are accepted
    # but not used, and written they would earn a warning.
    carriers = {"twilio", "telnyx", "plivo", "stt", "store", "silenceTimeoutMs"}
    assert set(defaults) - carriers <= set(written)
    for commented in ("fromNumber", "toNumber", "publicUrl", "store", "controlSocket",
                      "silenceTimeoutMs",
                      "[twilio]", "[telnyx]", "[plivo]", "[tts]", "hangupAfterReplies"):
        assert f"# {commented}" in starter_config_toml()


def uncomment_block(text: str, header: str) -> str:
    """``text`` with the commented-out ``# [header]`` block switched on."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"# [{header}]"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("# ")),
               len(lines))
    lines[start:end] = [line[2:] for line in lines[start:end]]
    return "\n".join(lines) + "\n"


def test_uncommented_carrier_blocks_validate():
    for carrier in ("twilio", "telnyx", "plivo"):
        text = uncomment_block(starter_config_toml(), carrier)
        text = re.sub(r'^provider = "mock"', f'provider = "{carrier}"', text, flags=re.M)
        text = text.replace('# fromNumber = ', 'fromNumber = ')
        config = parse_config_text(text, ".toml", HOME_ENV)
        assert config.provider == carrier
        assert config.from_number == "+15550001234"


def test_uncommented_tts_block_validates():
    config = parse_config_text(uncomment_block(starter_config_toml(), "tts"), ".toml", HOME_ENV)
    assert config.get("tts.openai.voice") == "coral"
    assert config.get("tts.elevenlabs.modelId") == "eleven_multilingual_v2"
