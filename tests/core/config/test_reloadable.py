"""The reload key table classifies every setting, and a reload plan keeps restart-only values."""

from __future__ import annotations

from voicecall_cli.core.config.reloadable import (
    APPLIES,
    RELOAD_TABLE,
    RESTART,
    plan_reload,
    schema_units,
    unclassified_units,
)
from voicecall_cli.core.config.schema import ALL_PATHS

from .util import TWILIO_OK, from_obj


def test_every_setting_of_the_schema_is_classified_for_reload() -> None:
    # A key added to the schema must be classified in core/config/reloadable.py: does a running
    # daemon take it on at `daemon reload` (APPLIES) or only after a restart (RESTART)?
    assert unclassified_units() == [], (
        "classify these keys in voicecall_cli/core/config/reloadable.py RELOAD_TABLE: "
        + ", ".join(unclassified_units()))
    assert sorted(set(RELOAD_TABLE) - set(schema_units())) == []  # no key the schema lost


def test_the_units_cover_every_schema_path() -> None:
    units = schema_units()
    for path in ALL_PATHS:
        covered = path in units or any(path.startswith(unit + ".") for unit in units) or any(
            unit.startswith(path + ".") for unit in units)
        assert covered, path
    assert "outbound.quietHours" in units  # a time window is one setting
    assert "outbound.quietHours.start" not in units


def test_the_split_follows_how_each_setting_is_consumed() -> None:
    for key in ("tts.openai.voice", "tts.provider", "streaming.sttModel", "responseModel",
                "responseSystemPrompt", "outbound.allowTo", "inboundPolicy", "allowFrom",
                "inboundGreeting", "maxDurationSeconds", "transcriptTimeoutMs"):
        assert RELOAD_TABLE[key] == APPLIES, key
    for key in ("provider", "twilio.authToken", "serve.port", "serve.bind", "controlSocket",
                "store", "streaming.enabled", "streaming.streamPath", "publicUrl",
                "tunnel.provider", "tailscale.mode"):
        assert RELOAD_TABLE[key] == RESTART, key


def test_a_plan_applies_live_keys_and_keeps_restart_only_values() -> None:
    running = from_obj({**TWILIO_OK, "tts": {"openai": {"voice": "alloy"}},
                        "outbound": {"allowTo": ["+1555"]}})
    new = from_obj({**TWILIO_OK, "tts": {"openai": {"voice": "nova"}},
                    "outbound": {"allowTo": ["+1666"],
                                 "quietHours": {"start": "22:00", "end": "07:00"}},
                    "serve": {"port": 4444},
                    "twilio": {**TWILIO_OK["twilio"], "authToken": "another-token-123456"}})
    plan = plan_reload(running.data, new.data)
    assert plan.applied == ("outbound.allowTo", "outbound.quietHours", "tts.openai.voice")
    assert plan.needs_restart == ("twilio.authToken", "serve.port")
    assert plan.data["tts"]["openai"]["voice"] == "nova"
    assert plan.data["outbound"]["allowTo"] == ["+1666"]
    assert plan.data["outbound"]["quietHours"] == {"start": "22:00", "end": "07:00"}
    assert plan.data["serve"]["port"] == running.data["serve"]["port"]
    assert plan.data["twilio"]["authToken"] == running.data["twilio"]["authToken"]
    # Read again, the same file still differs in the keys that need a restart, and only those.
    again = plan_reload(plan.data, new.data)
    assert again.applied == () and again.needs_restart == ("twilio.authToken", "serve.port")


def test_a_restart_only_key_removed_from_the_file_stays_as_it_runs() -> None:
    running = from_obj({**TWILIO_OK, "publicUrl": "https://example.com/voice/webhook"})
    new = from_obj(TWILIO_OK)
    plan = plan_reload(running.data, new.data)
    assert plan.needs_restart == ("publicUrl",)
    assert plan.data["publicUrl"] == "https://example.com/voice/webhook"


def test_an_unchanged_file_changes_nothing() -> None:
    config = from_obj(TWILIO_OK)
    plan = plan_reload(config.data, from_obj(TWILIO_OK).data)
    assert plan.applied == () and plan.needs_restart == ()
    assert plan.data == config.data
