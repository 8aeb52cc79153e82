"""The README's "Realtime voice" configuration block is a configuration that works as the
section says: valid, realtime on, and, with ``streaming`` also on, named as its fallback."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.core.config.util import TWILIO_OK, from_obj

README = Path(__file__).resolve().parents[3] / "README.md"


def realtime_block() -> dict:
    section = README.read_text().split("## Realtime voice", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```toml\n(.*?)```", section, re.S)
    return tomllib.loads(block)


def test_the_readme_realtime_block_is_valid_and_turns_realtime_on() -> None:
    twilio = {**TWILIO_OK, "publicUrl": "https://voice.example.com/voice/webhook"}
    config = from_obj({**twilio, **realtime_block()}, {"OPENAI_API_KEY": "sk-env"})
    assert config.get("realtime.enabled") is True
    assert config.get("realtime.apiKey") == "sk-env"
    assert config.warnings == []
    both = from_obj({**twilio, **realtime_block(), "streaming": {"enabled": True}},
                    {"OPENAI_API_KEY": "sk-env"})
    assert any("realtime model wins" in w for w in both.warnings)
