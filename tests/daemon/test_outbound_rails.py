"""The outbound rails in the daemon: the real call manager on a real store and bus, with the
recording carrier at the carrier edge (it records every dial the manager asks for).

Each rail refuses with ``refused`` and its ``rail``, publishes ``call.refused`` and dials
nothing; rate limits count from the store; idempotency keys replay the first call (also on a
new manager over the same store); the confirmation step of ``mcp.requireConfirmation``; the
store's migration from schema version 1.
"""

from __future__ import annotations

import sqlite3
import time
from zoneinfo import ZoneInfo

import pytest
import trio

from voicecall_cli.core.config import parse_config_text
from voicecall_cli.core.rails import OutboundRails, QuietHours
from voicecall_cli.daemon.calls import operations
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.store import FILENAME, SCHEMA_VERSION, Store, StoreError
from voicecall_cli.protocol import ApiError, ErrorCode, InitiateRequest
from voicecall_cli.providers.base import PlaceCallRequest, PlacedCall, ProviderError

from .manager_harness import Env, RecordingCarrier, open_env_factory

TO = "+15550001111"
OTHER = "+15550002222"


def settings(rails: OutboundRails, **kw) -> CallSettings:
    return CallSettings(to_number=TO, max_concurrent_calls=10, rails=rails, **kw)


async def place(env: Env, **kw) -> dict:
    return await operations.initiate(env.manager, InitiateRequest(**{"message": "Hi", **kw}))


async def refused(env: Env, rail: str, **kw) -> ApiError:
    """Assert that the request is refused by ``rail``, published, and dialled nothing."""
    dials = len(env.carrier.of("place"))
    refusals = len(refused_events(env))
    with pytest.raises(ApiError) as info:
        await place(env, **kw)
    err = info.value
    assert (err.code, err.details, err.http_status) == (ErrorCode.REFUSED, {"rail": rail}, 403)
    assert len(env.carrier.of("place")) == dials
    event = refused_events(env)[refusals]
    assert event["callId"] is None
    assert event["data"] == {"rail": rail, "to": kw.get("to", TO), "reason": err.message,
                             "origin": kw.get("origin", "api")}
    return err


def refused_events(env: Env) -> list[dict]:
    return [e for e in env.store.events_after(0) if e["type"] == "call.refused"]


def test_the_rails_come_from_the_config_with_their_time_zone(monkeypatch):
    text = """{"outbound": {"allowTo": ["+1555"], "maxCallsPerHour": 5,
                "quietHours": {"start": "21:30", "end": "07:00", "timezone": "Asia/Tokyo"}},
               "mcp": {"requireConfirmation": true}}"""
    rails = CallSettings.from_config(parse_config_text(text, ".json", {})).rails
    assert rails.allow_to == ("+1555",) and rails.max_calls_per_hour == 5
    assert rails.max_calls_per_hour_per_number is None and rails.require_confirmation
    assert rails.quiet_hours == QuietHours(21 * 60 + 30, 7 * 60, ZoneInfo("Asia/Tokyo"),
                                           "Asia/Tokyo")
    # No timezone: the machine's local zone (TZ first), named in messages.
    monkeypatch.setenv("TZ", "America/New_York")
    local = CallSettings.from_config(parse_config_text(
        '{"outbound": {"quietHours": {"start": "21:00", "end": "08:00"}}}', ".json", {}))
    assert local.rails.quiet_hours.describe() == "21:00-08:00 America/New_York"
    assert CallSettings.from_config(parse_config_text("", ".json", {})).rails == OutboundRails()


# ---- each rail --------------------------------------------------------------------------------

async def test_allow_to_refuses_other_destinations(tmp_path, autojump_clock, env_nursery):
    env = await open_env_factory(tmp_path)(settings(OutboundRails(allow_to=("+1555", "+44"))),
                                           nursery=env_nursery)
    err = await refused(env, "outbound.allowTo", to="+33612345678", origin="cli")
    assert err.message.startswith("+33612345678 is not in outbound.allowTo")
    await place(env, to="+447700900123")
    await place(env)
    assert [d[2] for d in env.carrier.of("place")] == ["+447700900123", TO]
    assert env.manager.calls and env.store.journal_unfinished() == []


async def test_quiet_hours_refuse_calls_until_their_end(tmp_path, autojump_clock, env_nursery):
    minute = time.gmtime().tm_hour * 60 + time.gmtime().tm_min
    start, end = (minute - 1) % 1440, (minute + 60) % 1440
    quiet = QuietHours(start, end, ZoneInfo("UTC"), "UTC")
    env = await open_env_factory(tmp_path)(settings(OutboundRails(quiet_hours=quiet)),
                                           nursery=env_nursery)
    err = await refused(env, "outbound.quietHours", origin="mcp")
    assert err.message.startswith(f"quiet hours ({quiet.describe()}) until "
                                  f"{end // 60:02d}:{end % 60:02d}")
    assert env.store.outbound_dials_since(0) == []  # nothing journalled


async def test_the_hourly_limit_counts_from_the_store(tmp_path, autojump_clock, env_nursery):
    open_env = open_env_factory(tmp_path)
    env = await open_env(settings(OutboundRails(max_calls_per_hour=2)), nursery=env_nursery)
    await place(env)
    await place(env, to=OTHER)
    err = await refused(env, "outbound.maxCallsPerHour")
    assert err.message == "outbound.maxCallsPerHour (2) reached; next call possible in 60 min"
    # A new manager on the same store (a restarted daemon) still counts both dials.
    again = await open_env(settings(OutboundRails(max_calls_per_hour=2)), nursery=env_nursery)
    await refused(again, "outbound.maxCallsPerHour", to=OTHER)
    assert len(env.carrier.of("place")) == 2 and again.carrier.of("place") == []
    await trio.sleep(3600)  # an hour later both have left the window
    await place(again)


async def test_the_per_number_limit(tmp_path, autojump_clock, env_nursery):
    env = await open_env_factory(tmp_path)(
        settings(OutboundRails(max_calls_per_hour=5, max_calls_per_hour_per_number=1)),
        nursery=env_nursery)
    await place(env)
    err = await refused(env, "outbound.maxCallsPerHourPerNumber")
    assert err.message == (f"outbound.maxCallsPerHourPerNumber (1) reached for {TO}; next call "
                           "to it possible in 60 min")
    await place(env, to=OTHER)


class RefusingCarrier(RecordingCarrier):
    """A carrier that refuses every dial."""

    async def place_call(self, request: PlaceCallRequest) -> PlacedCall:
        self.log.append(("place", request.call_id, request.to_number))
        raise ProviderError("carrier says no")


async def test_failed_dials_and_refusals_do_not_count(tmp_path, autojump_clock, env_nursery):
    rails = OutboundRails(allow_to=("+1555",), max_calls_per_hour=1)
    env = await open_env_factory(tmp_path)(settings(rails), RefusingCarrier(),
                                           nursery=env_nursery)
    for _ in range(3):
        with pytest.raises(ApiError) as info:
            await place(env)
        assert info.value.code is ErrorCode.OPERATION_FAILED
        await refused(env, "outbound.allowTo", to="+447700900123")
    assert len(env.carrier.of("place")) == 3
    assert env.store.outbound_dials_since(0) == []


# ---- idempotency ------------------------------------------------------------------------------

async def test_an_idempotent_retry_returns_the_first_call_and_dials_once(
        tmp_path, autojump_clock, env_nursery):
    open_env = open_env_factory(tmp_path)
    rails = OutboundRails(max_calls_per_hour=1)
    env = await open_env(settings(rails), nursery=env_nursery)
    first = await place(env, idempotencyKey="order-42")
    assert first == {"callId": first["callId"], "initiated": True}
    retry = await place(env, idempotencyKey="order-42")
    assert retry == {"callId": first["callId"], "initiated": True, "replayed": True}
    # The retry is not refused by the limit the first call filled; a new call is.
    await refused(env, "outbound.maxCallsPerHour", idempotencyKey="order-43")
    # After a restart (a new manager on the same store) the key still answers.
    again = await open_env(settings(rails), nursery=env_nursery)
    assert await place(again, idempotencyKey="order-42") == retry
    assert len(env.carrier.of("place")) == 1 and again.carrier.of("place") == []


async def test_the_same_key_for_a_different_call_is_a_conflict(tmp_path, autojump_clock,
                                                                env_nursery):
    env = await open_env_factory(tmp_path)(settings(OutboundRails()), nursery=env_nursery)
    first = await place(env, idempotencyKey="k1", mode="notify")
    for change in ({"to": OTHER}, {"message": "Hello"}, {"mode": "conversation"},
                   {"from_": "+15550009999"}):
        with pytest.raises(ApiError) as info:
            await place(env, **{"idempotencyKey": "k1", "mode": "notify", **change})
        assert info.value.code is ErrorCode.CONFLICT
        assert info.value.message == (f"idempotency key 'k1' was used for a different call "
                                      f"({first['callId']}); use a new key for a new call")
    # Defaults count as written: the configured toNumber is the same request.
    assert (await place(env, idempotencyKey="k1", mode="notify", to=TO))["replayed"]
    assert len(env.carrier.of("place")) == 1


async def test_a_key_answers_for_24_hours(tmp_path, autojump_clock, env_nursery):
    env = await open_env_factory(tmp_path)(settings(OutboundRails(), max_duration_s=60),
                                           nursery=env_nursery)
    first = await place(env, idempotencyKey="daily")
    await trio.sleep(24 * 3600 - 1)
    assert (await place(env, idempotencyKey="daily"))["callId"] == first["callId"]
    await trio.sleep(2)
    second = await place(env, idempotencyKey="daily")
    assert second["callId"] != first["callId"] and "replayed" not in second
    assert len(env.carrier.of("place")) == 2


def test_keys_are_stored_with_the_journal_entry_and_pruned_after_a_day(tmp_path):
    day = 24 * 3_600_000
    with Store.open(tmp_path) as store:
        store.journal_begin("c1", TO, "+15550000000", "notify", 1_000, idempotency=("a", "fp"))
        assert store.idempotency_get("a", 2_000) == ("c1", "fp", 1_000)
        assert store.idempotency_get("a", 1_000 + day) is None
        # A key in use refuses the whole entry: neither row is written.
        with pytest.raises(StoreError, match="idempotency key 'a' is already in use"):
            store.journal_begin("c2", TO, "+15550000000", "notify", 2_000,
                                idempotency=("a", "fp"))
        assert store.journal_get("c2") is None
        store.journal_begin("c3", TO, "+15550000000", "notify", 1_000 + day,
                            idempotency=("b", "fp"))
        rows = store._conn().execute("SELECT key FROM idempotency_keys").fetchall()
        assert rows == [("b",)]  # the expired key went with that write
        store.journal_begin("c4", TO, "+15550000000", "notify", 2_000 + day,
                            idempotency=("a", "fp2"))  # an expired key may be used again
        assert store.idempotency_get("a", 3_000 + day) == ("c4", "fp2", 2_000 + day)


# ---- confirmation (mcp.requireConfirmation) ---------------------------------------------------

async def test_an_agent_previews_then_confirms_with_the_token(tmp_path, autojump_clock,
                                                              env_nursery):
    rails = OutboundRails(require_confirmation=True)
    env = await open_env_factory(tmp_path)(settings(rails), nursery=env_nursery)
    now = env.manager.now_ms()
    preview = await place(env, origin="mcp", mode="notify")
    token = preview["confirmToken"]
    assert preview == {"initiated": False, "confirmationRequired": True, "confirmToken": token,
                       "expiresAt": now + 300_000,
                       "preview": {"to": TO, "from": "+15550000000", "mode": "notify",
                                   "message": "Hi"}}
    assert env.carrier.of("place") == [] and env.store.outbound_dials_since(0) == []

    async def fails(code: ErrorCode, **kw) -> ApiError:
        with pytest.raises(ApiError) as info:
            await place(env, origin="mcp", mode="notify", **kw)
        assert info.value.code is code
        return info.value

    wrong = await fails(ErrorCode.BAD_REQUEST, confirmToken="made-up")
    assert wrong.details == {"rail": "mcp.requireConfirmation"}
    assert "without confirmToken" in wrong.message
    other = await fails(ErrorCode.BAD_REQUEST, confirmToken=token, message="Something else")
    assert "different call" in other.message and other.details["rail"] == (
        "mcp.requireConfirmation")
    placed = await place(env, origin="mcp", mode="notify", confirmToken=token, to=TO)
    assert placed["initiated"] is True
    used = await fails(ErrorCode.CONFLICT, confirmToken=token)
    assert "already used" in used.message
    assert env.carrier.of("place") == [("place", placed["callId"], TO)]

    second = (await place(env, origin="mcp", mode="notify"))["confirmToken"]
    await trio.sleep(300)
    expired = await fails(ErrorCode.BAD_REQUEST, confirmToken=second)
    assert "unknown or expired" in expired.message
    assert len(env.carrier.of("place")) == 1


async def test_confirmation_applies_to_agents_only_and_rails_refuse_first(
        tmp_path, autojump_clock, env_nursery):
    rails = OutboundRails(require_confirmation=True, allow_to=("+1555",))
    env = await open_env_factory(tmp_path)(settings(rails), nursery=env_nursery)
    # A refused call is refused at once, not after a confirmation round trip.
    await refused(env, "outbound.allowTo", origin="mcp", to="+447700900123")
    assert len(env.manager.confirmations) == 0
    # The CLI and the API place calls directly.
    assert (await place(env, origin="cli"))["initiated"] is True
    assert (await place(env))["initiated"] is True
    assert len(env.carrier.of("place")) == 2


async def test_a_token_is_ignored_when_confirmation_is_off(tmp_path, autojump_clock,
                                                           env_nursery):
    env = await open_env_factory(tmp_path)(settings(OutboundRails()), nursery=env_nursery)
    assert (await place(env, origin="mcp", confirmToken="anything"))["initiated"] is True
    assert len(env.carrier.of("place")) == 1


async def test_a_confirmed_retry_with_its_key_replays(tmp_path, autojump_clock, env_nursery):
    env = await open_env_factory(tmp_path)(settings(OutboundRails(require_confirmation=True)),
                                           nursery=env_nursery)
    token = (await place(env, origin="mcp", idempotencyKey="k"))["confirmToken"]
    first = await place(env, origin="mcp", idempotencyKey="k", confirmToken=token)
    # The agent retries (its answer was lost): the key replays; no second preview or dial.
    retry = await place(env, origin="mcp", idempotencyKey="k")
    assert retry == {"callId": first["callId"], "initiated": True, "replayed": True}
    assert len(env.carrier.of("place")) == 1


# ---- the store's schema: version 1 -> 2 -------------------------------------------------------

# The DDL of schema version 1, as shipped (a fixture: never change it).
V1_DDL = """
CREATE TABLE calls (
    call_id TEXT PRIMARY KEY,
    provider_call_id TEXT,
    state TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    ended_seq INTEGER UNIQUE,
    record TEXT NOT NULL
);
CREATE INDEX calls_by_provider_id ON calls(provider_call_id);
CREATE INDEX calls_by_start ON calls(started_at);
CREATE TABLE events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,
    call_id TEXT,
    type TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_by_call ON events(call_id, cursor);
CREATE TABLE processed_keys (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    at_ms INTEGER NOT NULL
);
CREATE TABLE outbound_journal (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    to_number TEXT NOT NULL,
    from_number TEXT NOT NULL,
    mode TEXT NOT NULL,
    begun_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    provider_call_id TEXT,
    error TEXT
);
CREATE INDEX journal_by_status ON outbound_journal(status);
PRAGMA user_version = 1;
"""


def schema_of(path) -> set[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        return {(kind, name) for kind, name in db.execute(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    finally:
        db.close()


def test_a_version_1_store_is_migrated_keeping_its_data(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    db = sqlite3.connect(old / FILENAME)
    db.executescript(V1_DDL)
    db.execute("INSERT INTO outbound_journal (call_id, to_number, from_number, mode, begun_at,"
               " status, provider_call_id) VALUES ('c1', ?, '+15550000000', 'notify', 5, "
               "'placed', 'CA1')", (TO,))
    db.execute("INSERT INTO events (ts, call_id, type, data) VALUES (5, 'c1', 'call.created',"
               " '{}')")
    db.commit()
    db.close()

    with Store.open(old) as store:
        assert store.journal_get("c1")["providerCallId"] == "CA1"
        assert store.last_cursor() == 1
        assert store.outbound_dials_since(0, TO) == [5]
        store.journal_begin("c2", TO, "+15550000000", "notify", 9, idempotency=("k", "fp"))
        assert store.idempotency_get("k", 10) == ("c2", "fp", 9)
    db = sqlite3.connect(old / FILENAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    db.close()
    # A migrated store has exactly the schema of a new one.
    Store.open(tmp_path / "new").close()
    assert schema_of(old / FILENAME) == schema_of(tmp_path / "new" / FILENAME)
    assert {("table", "idempotency_keys"), ("index", "journal_by_begun"),
            ("index", "journal_by_to"), ("table", "hook_runs")} <= schema_of(old / FILENAME)
    # Opening it again changes nothing.
    Store.open(old).close()
    assert schema_of(old / FILENAME) == schema_of(tmp_path / "new" / FILENAME)
