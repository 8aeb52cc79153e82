"""The SQLite store: what survives a restart (clean or kill -9), bounds, and clear failures.

Every test uses a real file under tmp_path. The store is synchronous; its only wait is SQLite's
1 s busy timeout, and the subprocess test is bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap

import pytest
import trio

from voicecall_cli.core.call import CallRecord, TranscriptEntry
from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.store import FILENAME, SCHEMA_VERSION, Retention, Store, StoreError


def make_call(call_id: str, state: CallState = CallState.ACTIVE, *, started_at: int = 1_000,
              provider_call_id: str | None = None) -> CallRecord:
    return CallRecord(call_id=call_id, provider="mock", direction="outbound", state=state,
                      from_number="+15550001111", to_number="+15550002222",
                      started_at=started_at, provider_call_id=provider_call_id,
                      ended_at=started_at + 5_000 if state.is_terminal else None,
                      end_reason=state.value if state.is_terminal else None,
                      transcript=[TranscriptEntry(started_at, "bot", "Hello, this is voicecall")],
                      processed_event_ids=["twilio:abc"], metadata={"mode": "conversation"})


def test_open_creates_a_private_directory_and_file(tmp_path):
    directory = tmp_path / "state" / "voicecall"
    with Store.open(directory) as store:
        assert store.last_cursor() == 0
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / FILENAME).stat().st_mode) == 0o600
    db = sqlite3.connect(directory / FILENAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_reopen_keeps_calls_events_keys_and_journal(tmp_path):
    active = make_call("c-active", provider_call_id="CA1")
    ended = make_call("c-ended", CallState.COMPLETED, started_at=2_000, provider_call_id="CA2")
    with Store.open(tmp_path) as store:
        store.save_call(active.to_dict())
        store.save_call(ended.to_dict())
        first = store.append_event(10, "c-active", "call.state",
                                   {"state": "active", "previous": "answered"})
        store.append_event(11, None, "daemon.stopping", {})
        assert store.add_processed_key("twilio:k1", 10)
        store.journal_begin("c-active", "+15550002222", "+15550001111", "notify", 9)
        store.journal_placed("c-active", "CA1")

    with Store.open(tmp_path) as store:
        assert CallRecord.from_dict(store.get_call("c-active")) == active
        assert CallRecord.from_dict(store.get_call("c-ended")) == ended
        assert store.get_call("nope") is None
        assert store.find_call_by_provider_id("CA2")["callId"] == "c-ended"
        assert store.find_call_by_provider_id("CA-unknown") is None
        assert [c["callId"] for c in store.load_active_calls()] == ["c-active"]
        assert [c["callId"] for c in store.recent_calls(10)] == ["c-ended", "c-active"]
        assert [c["callId"] for c in store.recent_calls(1)] == ["c-ended"]
        assert store.events_after(0) == [
            first, {"cursor": first["cursor"] + 1, "ts": 11, "callId": None,
                    "type": "daemon.stopping", "data": {}}]
        assert store.last_cursor() == first["cursor"] + 1
        assert store.has_processed_key("twilio:k1")
        assert not store.add_processed_key("twilio:k1", 20)
        assert store.journal_get("c-active") == {
            "callId": "c-active", "to": "+15550002222", "from": "+15550001111",
            "mode": "notify", "begunAt": 9, "status": "placed", "providerCallId": "CA1",
            "error": None}


def test_save_call_upserts_and_follows_state(tmp_path):
    call = make_call("c1", CallState.RINGING)
    with Store.open(tmp_path) as store:
        store.save_call(call.to_dict())
        call.state, call.provider_call_id = CallState.ANSWERED, "CA9"
        store.save_call(call.to_dict())
        assert store.get_call("c1")["state"] == "answered"
        assert store.find_call_by_provider_id("CA9")["callId"] == "c1"
        assert len(store.recent_calls(10)) == 1
        call.state, call.ended_at = CallState.HANGUP_USER, 9_000
        store.save_call(call.to_dict())
        assert store.load_active_calls() == []
        assert store.get_call("c1")["endedAt"] == 9_000


def test_only_the_newest_terminal_calls_are_kept(tmp_path):
    with Store.open(tmp_path, retention=Retention(terminal_calls=3)) as store:
        store.save_call(make_call("live-1").to_dict())
        for i in range(6):
            store.save_call(make_call(f"done-{i}", CallState.COMPLETED, started_at=i).to_dict())
        store.save_call(make_call("live-2").to_dict())
        # Re-saving an old ended call does not make it newer.
        store.save_call(make_call("done-3", CallState.COMPLETED, started_at=3).to_dict())
        store.save_call(make_call("live-1", CallState.BUSY).to_dict())  # ends last
        kept = {c["callId"] for c in store.recent_calls(100)}
    assert kept == {"done-4", "done-5", "live-1", "live-2"}
    with Store.open(tmp_path, retention=Retention(terminal_calls=3)) as store:
        store.save_call(make_call("done-6", CallState.FAILED).to_dict())
        assert {c["callId"] for c in store.recent_calls(100)} == {
            "done-5", "live-1", "live-2", "done-6"}
        assert [c["callId"] for c in store.load_active_calls()] == ["live-2"]


def test_cursors_strictly_increase_across_pruning_and_reopen(tmp_path):
    retention = Retention(events=10, events_batch=5)
    cursors: list[int] = []
    for _ in range(3):
        with Store.open(tmp_path, retention=retention) as store:
            for i in range(17):
                cursors.append(store.append_event(i, "c1", "call.turn", {"turn": i})["cursor"])
            assert store.last_cursor() == cursors[-1]
            kept = store.events_after(0)
            assert 10 <= len(kept) <= 15
            assert [e["cursor"] for e in kept] == cursors[-len(kept):]
    assert cursors == sorted(set(cursors))
    assert cursors[0] == 1


def test_last_cursor_survives_even_if_every_event_was_deleted(tmp_path):
    with Store.open(tmp_path) as store:
        store.append_event(1, None, "daemon.started", {})
        store.append_event(2, None, "daemon.stopping", {})
    db = sqlite3.connect(tmp_path / FILENAME)
    db.execute("DELETE FROM events")
    db.commit()
    db.close()
    with Store.open(tmp_path) as store:
        assert store.last_cursor() == 2
        assert store.append_event(3, None, "daemon.started", {})["cursor"] == 3


def test_events_after_filters_by_call_and_limits(tmp_path):
    with Store.open(tmp_path) as store:
        events = [store.append_event(i, f"c{i % 2}", "call.transcript",
                                     {"speaker": "user", "text": f"line {i}", "isFinal": True})
                  for i in range(10)]
        assert store.events_after(events[3]["cursor"]) == events[4:]
        assert store.events_after(0, "c1") == events[1::2]
        assert store.events_after(events[4]["cursor"], "c1", limit=2) == [events[5], events[7]]
        assert store.events_after(events[-1]["cursor"]) == []


def test_processed_keys_keep_the_newest_and_evict_the_oldest_in_batches(tmp_path):
    retention = Retention(keys=5, keys_batch=2)
    with Store.open(tmp_path, retention=retention) as store:
        assert [store.add_processed_key(f"k{i}", i) for i in range(8)] == [True] * 8
        # 8 > 5 + 2: the three oldest were evicted in one go.
        assert [store.has_processed_key(f"k{i}") for i in range(8)] == [False] * 3 + [True] * 5
        assert not store.add_processed_key("k7", 100)
    with Store.open(tmp_path, retention=retention) as store:
        assert store.add_processed_key("k0", 101)  # forgotten, so new again
        assert all(store.has_processed_key(f"k{i}") for i in range(3, 8))


def test_journal_flow_and_a_dial_interrupted_by_a_crash(tmp_path):
    with Store.open(tmp_path) as store:
        store.journal_begin("placed", "+1555", "+1666", "notify", 1)
        store.journal_begin("refused", "+1555", "+1666", "conversation", 2)
        store.journal_begin("crashed", "+1555", "+1666", "notify", 3)
        assert [j["callId"] for j in store.journal_unfinished()] == [
            "placed", "refused", "crashed"]
        store.journal_placed("placed", "CA1")
        store.journal_failed("refused", "carrier said 403")
    with Store.open(tmp_path) as store:
        assert [j["callId"] for j in store.journal_unfinished()] == ["crashed"]
        assert store.journal_get("refused")["status"] == "failed"
        assert store.journal_get("refused")["error"] == "carrier said 403"
        store.journal_failed("crashed", "daemon stopped while dialling")
        assert store.journal_unfinished() == []
        assert store.journal_get("never") is None
        with pytest.raises(StoreError, match="already has call placed"):
            store.journal_begin("placed", "+1555", "+1666", "notify", 4)
        with pytest.raises(StoreError, match="already placed"):
            store.journal_failed("placed", "late")
        with pytest.raises(StoreError, match="has no entry"):
            store.journal_placed("never", "CA2")
        assert store.journal_get("placed")["status"] == "placed"


def test_finished_journal_entries_are_bounded_but_unfinished_ones_stay(tmp_path):
    with Store.open(tmp_path, retention=Retention(journal=2, journal_batch=1)) as store:
        store.journal_begin("pending", "+1", "+2", "notify", 0)
        for i in range(6):
            store.journal_begin(f"c{i}", "+1", "+2", "notify", i)
            store.journal_placed(f"c{i}", f"CA{i}")
        remaining = [i for i in range(6) if store.journal_get(f"c{i}")]
        assert remaining[-2:] == [4, 5] and len(remaining) <= 3
        assert [j["callId"] for j in store.journal_unfinished()] == ["pending"]


def test_default_bounds_match_the_design():
    assert (Retention().terminal_calls, Retention().events, Retention().keys) == (
        1000, 100_000, 10_000)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "header-only"])
def test_a_damaged_file_is_a_clear_store_error(tmp_path, damage):
    with Store.open(tmp_path) as store:
        for i in range(500):
            store.append_event(i, "c1", "call.transcript", {"text": "x" * 200})
    path = tmp_path / FILENAME
    raw = path.read_bytes()
    path.write_bytes({"garbage": b"not sqlite at all\n" * 500, "truncated": raw[: len(raw) // 2],
                      "header-only": raw[:100]}[damage])
    with pytest.raises(StoreError, match=r"is corrupt or not a voicecall store.*move it aside"):
        Store.open(tmp_path)


def test_a_newer_schema_or_a_foreign_database_is_refused(tmp_path):
    Store.open(tmp_path / "newer").close()
    db = sqlite3.connect(tmp_path / "newer" / FILENAME)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this voicecall understands"):
        Store.open(tmp_path / "newer")

    (tmp_path / "foreign").mkdir()
    db = sqlite3.connect(tmp_path / "foreign" / FILENAME)
    db.execute("CREATE TABLE photos (id INTEGER)")
    db.close()
    with pytest.raises(StoreError, match="not a voicecall store"):
        Store.open(tmp_path / "foreign")


def test_an_unusable_directory_is_a_store_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot create the store directory"):
        Store.open(tmp_path / "file" / "voicecall")


def test_a_closed_store_says_so(tmp_path):
    store = Store.open(tmp_path)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.get_call("c1")
    with pytest.raises(StoreError, match="is closed"):
        store.append_event(1, None, "daemon.started", {})


async def test_kill_9_right_after_a_save_loses_nothing(tmp_path):
    call = make_call("c-durable", provider_call_id="CA-durable")
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from voicecall_cli.daemon.store import Store
        store = Store.open(Path({str(tmp_path)!r}))
        store.save_call({call.to_dict()!r})
        store.append_event(5, "c-durable", "call.state", {{"state": "active"}})
        store.add_processed_key("twilio:durable", 5)
        store.journal_begin("c-durable", "+1", "+2", "notify", 5)
        print("saved", flush=True)
        time.sleep(60)
    """)
    with trio.fail_after(20):
        proc = await trio.lowlevel.open_process([sys.executable, "-c", script],
                                                stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            received = b""
            while not received.endswith(b"\n"):
                chunk = await proc.stdout.receive_some()
                assert chunk, "the child exited before saving"
                received += chunk
            assert received == b"saved\n"
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert proc.returncode == -signal.SIGKILL
    with Store.open(tmp_path) as store:
        assert CallRecord.from_dict(store.get_call("c-durable")) == call
        assert store.events_after(0)[-1]["data"] == {"state": "active"}
        assert store.has_processed_key("twilio:durable")
        assert [j["callId"] for j in store.journal_unfinished()] == ["c-durable"]


def test_a_batch_commits_once_and_runs_callbacks_after_the_commit(tmp_path):
    with Store.open(tmp_path) as store:
        seen_by_other_reader: list[int] = []
        reader = sqlite3.connect(tmp_path / FILENAME)
        ran: list[str] = []
        with store.batch():
            store.add_processed_key("k1", 1)
            with store.batch():  # nested batches join the outer one
                store.append_event(1, "c1", "call.state", {})
            store.after_commit(lambda: ran.append("after"))
            seen_by_other_reader.append(
                reader.execute("SELECT count(*) FROM events").fetchone()[0])
            assert ran == []  # not yet committed
        assert ran == ["after"]
        assert seen_by_other_reader == [0]  # nothing was visible before the one commit
        assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 1
        reader.close()
        store.after_commit(lambda: ran.append("now"))  # outside a batch: at once
        assert ran == ["after", "now"]


def test_a_failed_batch_rolls_back_and_drops_its_callbacks(tmp_path):
    with Store.open(tmp_path) as store:
        ran: list[str] = []
        with pytest.raises(RuntimeError), store.batch():
            store.add_processed_key("lost", 1)
            store.after_commit(lambda: ran.append("never"))
            raise RuntimeError("boom")
        assert ran == [] and not store.has_processed_key("lost")
        assert store.add_processed_key("lost", 2)  # the table is usable again


def test_latest_events_are_the_newest_of_their_types_oldest_first(tmp_path):
    with Store.open(tmp_path) as store:
        for n in range(6):
            store.append_event(n, "a" if n % 2 else "b", "call.latency", {"n": n})
            store.append_event(n, "a", "call.state", {"n": n})
        with store.batch():  # still in the batch: read all the same
            store.append_event(9, "b", "call.turn", {"n": 9})
            newest = store.latest_events(("call.latency", "call.turn"), limit=3)
        assert [(e["type"], e["data"]["n"]) for e in newest] == [
            ("call.latency", 4), ("call.latency", 5), ("call.turn", 9)]
        of_a = store.latest_events(("call.latency",), "a", limit=10)
        assert [e["data"]["n"] for e in of_a] == [1, 3, 5]
        assert [e["cursor"] for e in of_a] == sorted(e["cursor"] for e in of_a)
        assert store.latest_events(("call.latency",), "nobody") == []
