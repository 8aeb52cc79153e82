"""The outbound rails' pure rules (allowTo, quiet hours, per-hour limits, fingerprints) and the
validation of their configuration keys. Time is passed in; real IANA zones are used."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from voicecall_cli.core.config import starter_config_toml
from voicecall_cli.core.rails import (
    HOUR_MS,
    OutboundRails,
    QuietHours,
    Refusal,
    clock_minutes,
    next_call_at,
    number_allowed,
    outbound_refusal,
    quiet_until,
    request_fingerprint,
)

from .config.util import HOME_ENV, errors_of, from_obj

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
MIN = 60_000


def at(iso: str) -> int:
    """Epoch ms of an ISO time with its offset."""
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def utc(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def window(start: str, end: str, tz=LONDON, label: str = "Europe/London") -> QuietHours:
    return QuietHours(clock_minutes(start), clock_minutes(end), tz, label)


# ---- allowTo ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("to", "allowed"), [
    ("+15550001111", True),     # starts with +1555
    ("+447700900123", True),    # starts with +44
    ("+15550009999", True),
    ("+15560001111", False),    # +1556 is not +1555
    ("+33612345678", False),
    ("+4", False),              # shorter than every entry
])
def test_allow_to_matches_numbers_and_prefixes(to: str, allowed: bool) -> None:
    assert number_allowed(to, ("+1555", "+44")) is allowed


def test_an_exact_entry_and_an_empty_list() -> None:
    assert number_allowed("+15550001111", ("+15550001111",))
    assert not number_allowed("+15550001112", ("+15550001111",))
    assert number_allowed("+33612345678", ())  # empty: any destination


# ---- quiet hours ------------------------------------------------------------------------------

def test_a_window_inside_one_day_start_inclusive_end_exclusive() -> None:
    lunch = window("12:00", "13:30")
    assert quiet_until(at("2025-06-02T11:59:59+01:00"), lunch) is None
    assert utc(quiet_until(at("2025-06-02T12:00:00+01:00"), lunch)) == "2025-06-02T12:30:00"
    assert utc(quiet_until(at("2025-06-02T13:29:59+01:00"), lunch)) == "2025-06-02T12:30:00"
    assert quiet_until(at("2025-06-02T13:30:00+01:00"), lunch) is None


def test_a_window_crossing_midnight() -> None:
    night = window("21:00", "08:00")
    assert quiet_until(at("2025-06-02T20:59:00+01:00"), night) is None
    # Evening: quiet until 08:00 the next morning; early morning: until 08:00 the same day.
    assert utc(quiet_until(at("2025-06-02T21:00:00+01:00"), night)) == "2025-06-03T07:00:00"
    assert utc(quiet_until(at("2025-06-02T23:59:00+01:00"), night)) == "2025-06-03T07:00:00"
    assert utc(quiet_until(at("2025-06-03T00:00:00+01:00"), night)) == "2025-06-03T07:00:00"
    assert utc(quiet_until(at("2025-06-03T07:59:59+01:00"), night)) == "2025-06-03T07:00:00"
    assert quiet_until(at("2025-06-03T08:00:00+01:00"), night) is None
    assert quiet_until(at("2025-06-03T12:00:00+01:00"), night) is None


def test_the_zone_decides_not_utc() -> None:
    night = window("21:00", "08:00", NEW_YORK, "America/New_York")
    # 02:00 UTC is 22:00 in New York (EDT, UTC-4): quiet until 08:00 EDT = 12:00 UTC.
    assert utc(quiet_until(at("2025-06-03T02:00:00+00:00"), night)) == "2025-06-03T12:00:00"
    assert quiet_until(at("2025-06-03T21:30:00+00:00"), night) is None  # 17:30 there


def test_the_end_across_a_spring_forward_night_is_local_wall_time() -> None:
    # London springs forward at 01:00 UTC on 30 March 2025 (GMT -> BST): 08:00 that morning
    # is 07:00 UTC, not the 08:00 UTC a fixed offset taken at 23:00 the night before says.
    night = window("22:00", "08:00")
    assert utc(quiet_until(at("2025-03-29T23:00:00+00:00"), night)) == "2025-03-30T07:00:00"
    # Autumn: back to GMT at 01:00 UTC on 26 October 2025; 08:00 GMT is 08:00 UTC.
    assert utc(quiet_until(at("2025-10-25T23:00:00+01:00"), night)) == "2025-10-26T08:00:00"


def test_an_end_in_the_skipped_hour_is_when_the_clocks_jump() -> None:
    # 01:30 does not exist in London on 30 March 2025: 00:59:59 GMT is followed by 02:00 BST.
    early = window("00:30", "01:30")
    assert utc(quiet_until(at("2025-03-30T00:45:00+00:00"), early)) == "2025-03-30T01:00:00"
    assert quiet_until(at("2025-03-30T01:00:00+00:00"), early) is None  # 02:00 BST


def test_a_repeated_hour_is_quiet_both_times() -> None:
    # 01:00-02:00 happens twice in London on 26 October 2025 (BST, then GMT).
    early = window("01:00", "01:30")
    assert utc(quiet_until(at("2025-10-26T00:10:00+00:00"), early)) == "2025-10-26T00:30:00"
    assert quiet_until(at("2025-10-26T00:40:00+00:00"), early) is None  # 01:40 BST
    assert utc(quiet_until(at("2025-10-26T01:10:00+00:00"), early)) == "2025-10-26T01:30:00"


def test_a_quiet_refusal_names_the_window_and_its_end() -> None:
    rails = OutboundRails(quiet_hours=window("21:00", "08:00"))
    refusal = outbound_refusal(rails, "+15550001111", at("2025-06-02T22:15:00+01:00"))
    assert refusal == Refusal("outbound.quietHours", "quiet hours (21:00-08:00 Europe/London) "
                              "until 08:00; call after that or change outbound.quietHours")


# ---- rate limits ------------------------------------------------------------------------------

def test_next_call_at_counts_the_last_hour_only() -> None:
    now = 10 * HOUR_MS
    assert next_call_at([], 1, now) is None
    assert next_call_at([now - 10 * MIN], 2, now) is None
    # Two dials in the hour with a limit of 2: the oldest leaves the window first.
    assert next_call_at([now - 48 * MIN, now - 5 * MIN], 2, now) == now + 12 * MIN
    # Exactly an hour ago no longer counts.
    assert next_call_at([now - HOUR_MS, now - 5 * MIN], 2, now) is None
    # Above the limit (it was lowered): enough of them must leave the window.
    dials = [now - 50 * MIN, now - 40 * MIN, now - 30 * MIN]
    assert next_call_at(dials, 1, now) == now + 30 * MIN
    assert next_call_at(list(reversed(dials)), 2, now) == now + 20 * MIN


def test_the_overall_limit_comes_before_the_per_number_limit() -> None:
    now = 10 * HOUR_MS
    rails = OutboundRails(max_calls_per_hour=5, max_calls_per_hour_per_number=1)
    five = [now - 48 * MIN + i * MIN for i in range(5)]
    refusal = outbound_refusal(rails, "+15550001111", now, recent=five, recent_to=five[:1])
    assert refusal == Refusal("outbound.maxCallsPerHour",
                              "outbound.maxCallsPerHour (5) reached; next call possible in 12 min")
    refusal = outbound_refusal(rails, "+15550001111", now, recent=five[:2],
                               recent_to=[now - 59 * MIN - 30_000])
    assert refusal is not None and refusal.rail == "outbound.maxCallsPerHourPerNumber"
    assert refusal.reason.endswith("reached for +15550001111; next call to it possible in 1 min")
    assert outbound_refusal(rails, "+15550001111", now, recent=five[:2], recent_to=[]) is None


def test_allow_to_comes_first_and_no_rails_allow_everything() -> None:
    now = at("2025-06-02T22:15:00+01:00")
    rails = OutboundRails(allow_to=("+1555",), quiet_hours=window("21:00", "08:00"),
                          max_calls_per_hour=1)
    refusal = outbound_refusal(rails, "+447700900123", now, recent=[now])
    assert refusal is not None and refusal.rail == "outbound.allowTo"
    assert refusal.reason.startswith("+447700900123 is not in outbound.allowTo")
    assert outbound_refusal(OutboundRails(), "+447700900123", now, recent=[now] * 9) is None


def test_the_fingerprint_covers_every_part_of_the_request() -> None:
    base = request_fingerprint("+15550001111", "+15550000000", "notify", "hi")
    assert base == request_fingerprint("+15550001111", "+15550000000", "notify", "hi")
    for other in (("+15550001112", "+15550000000", "notify", "hi"),
                  ("+15550001111", "+15550000001", "notify", "hi"),
                  ("+15550001111", "+15550000000", "conversation", "hi"),
                  ("+15550001111", "+15550000000", "notify", "hi!")):
        assert request_fingerprint(*other) != base
    # the options count once given, and a token for a plain call places no recorded call
    asked = ("+15550001111", "+15550000000", "conversation", "hi")
    plain = request_fingerprint(*asked)
    variants = {request_fingerprint(*asked, objective="Book it."),
                request_fingerprint(*asked, record=True),
                request_fingerprint(*asked, objective="Book it.", record=True)}
    assert len(variants) == 3 and plain not in variants


# ---- configuration ----------------------------------------------------------------------------

def test_the_rail_keys_validate_and_are_absent_by_default() -> None:
    config = from_obj({
        "outbound": {"allowTo": ["+1555", "+44", "+15550001111"],
                     "quietHours": {"start": "21:00", "end": "08:00",
                                    "timezone": "Europe/London"},
                     "maxCallsPerHour": 20, "maxCallsPerHourPerNumber": 3},
        "mcp": {"requireConfirmation": True}})
    assert config.get("outbound.allowTo") == ["+1555", "+44", "+15550001111"]
    assert config.get("outbound.quietHours") == {"start": "21:00", "end": "08:00",
                                                 "timezone": "Europe/London"}
    assert config.get("mcp.requireConfirmation") is True
    defaults = from_obj({})
    assert set(defaults.get("outbound")) == {"defaultMode", "notifyHangupDelaySec",
                                             "machineDetection"}
    assert defaults.get("mcp") == {"requireConfirmation": False}
    assert from_obj({"outbound": {"quietHours": {"start": "23:00", "end": "06:30"}}}
                    ).get("outbound.quietHours") == {"start": "23:00", "end": "06:30"}


PREFIX = "Expected an E.164 number or prefix, e.g. +1555 or +44"
CLOCK = 'must be a time of day "HH:MM" (24-hour), e.g. "21:00"'
ZONE = "use an IANA name such as Europe/London or America/New_York"


@pytest.mark.parametrize(("outbound", "path", "message"), [
    ({"allowTo": "+1555"}, "outbound.allowTo", "must be a list"),
    ({"allowTo": ["+1555", "1555"]}, "outbound.allowTo[1]", PREFIX),
    ({"allowTo": ["+"]}, "outbound.allowTo[0]", PREFIX),
    ({"allowTo": ["+1 555"]}, "outbound.allowTo[0]", PREFIX),
    ({"allowTo": ["+1234567890123456"]}, "outbound.allowTo[0]", PREFIX),
    ({"quietHours": "21:00-08:00"}, "outbound.quietHours", "must be an object (a table)"),
    ({"quietHours": {"start": "21:00"}}, "outbound.quietHours.end",
     "outbound.quietHours.end is required"),
    ({"quietHours": {"end": "08:00"}}, "outbound.quietHours.start",
     "outbound.quietHours.start is required"),
    ({"quietHours": {"start": "9:00", "end": "17:00"}}, "outbound.quietHours.start", CLOCK),
    ({"quietHours": {"start": "21:00", "end": "24:00"}}, "outbound.quietHours.end", CLOCK),
    ({"quietHours": {"start": "21:00", "end": "21:00"}}, "outbound.quietHours.end",
     "must differ from start (the window would be empty; remove the key to switch it off)"),
    ({"quietHours": {"start": "21:00", "end": "08:00", "timezone": "Mars/Olympus"}},
     "outbound.quietHours.timezone", f'unknown time zone "Mars/Olympus": {ZONE}'),
    ({"quietHours": {"start": "21:00", "end": "08:00", "timezone": "../etc/passwd"}},
     "outbound.quietHours.timezone", f'unknown time zone "../etc/passwd": {ZONE}'),
    ({"quietHours": {"start": "21:00", "end": "08:00", "timezone": 1}},
     "outbound.quietHours.timezone", f"unknown time zone: {ZONE}"),
    ({"quietHours": {"start": "21:00", "end": "08:00", "zone": "UTC"}},
     "outbound.quietHours.zone",
     "unknown key outbound.quietHours.zone (did you mean outbound.quietHours.timezone?)"),
    ({"maxCallsPerHour": 0}, "outbound.maxCallsPerHour",
     "must be an integer between 1 and 1000"),
    ({"maxCallsPerHour": 1001}, "outbound.maxCallsPerHour",
     "must be an integer between 1 and 1000"),
    ({"maxCallsPerHourPerNumber": 2.5}, "outbound.maxCallsPerHourPerNumber",
     "must be an integer between 1 and 1000"),
])
def test_each_rail_key_names_its_path_when_wrong(outbound, path, message) -> None:
    assert errors_of({"outbound": outbound}) == {path: message}


def test_mcp_require_confirmation_must_be_a_boolean() -> None:
    assert errors_of({"mcp": {"requireConfirmation": "yes"}}) == {
        "mcp.requireConfirmation": "must be true or false"}
    assert errors_of({"mcp": {"requireConfirmaton": True}}) == {
        "mcp.requireConfirmaton": "unknown key mcp.requireConfirmaton "
                                  "(did you mean mcp.requireConfirmation?)"}


def test_the_starter_files_commented_rails_validate_when_switched_on() -> None:
    text = "\n".join(line[2:] if line.startswith(("# allowTo", "# maxCalls", "# quietHours"))
                     else line for line in starter_config_toml().splitlines())
    written = tomllib.loads(text)["outbound"]
    assert {"allowTo", "maxCallsPerHour", "maxCallsPerHourPerNumber", "quietHours"} <= set(
        written)
    config = from_obj(tomllib.loads(text), HOME_ENV)
    assert config.get("outbound.quietHours.timezone") == "Europe/London"


def test_the_readme_rails_example_is_a_valid_config() -> None:
    """The README's "Outbound rails" TOML block loads as written, every rail in force."""
    import re
    from pathlib import Path

    from voicecall_cli.core.config import parse_config_text

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Outbound rails\n", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, flags=re.S)
    assert block is not None
    config = parse_config_text(block.group(1), ".toml", {}, source="README.md")
    assert config.get("outbound.allowTo") == ["+1555", "+447700900123"]
    assert config.get("outbound.quietHours.timezone") == "Europe/London"
    assert config.get("outbound.maxCallsPerHour") == 20
    assert config.get("outbound.maxCallsPerHourPerNumber") == 3
    assert config.get("mcp.requireConfirmation") is True
