"""A store batch is all or nothing, even when its caller swallows a failed write (issue #14
item 10): the webhook path acknowledges a delivery once its batch committed, so a batch must
never commit a silent subset of what the delivery said.

The failure is real SQLite: the connection's length limit (``SQLITE_LIMIT_LENGTH``) makes one
oversized event row fail with "string or blob too big", as a full disk fails a write.
"""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from voicecall_cli.daemon.store import FILENAME, Store, StoreError


def test_a_batch_whose_write_failed_rolls_back_even_if_the_caller_went_on(tmp_path):
    with Store.open(tmp_path) as store:
        store.append_event(1, "c0", "call.state", {"n": 0})
        cursor_before = store.last_cursor()
        store._conn().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 200)
        ran: list[str] = []
        with pytest.raises(StoreError, match="too big"), store.batch():
            store.add_processed_key("k1", 1)
            store.append_event(2, "c1", "call.state", {"n": 1})
            with contextlib.suppress(StoreError):  # as the call manager does, per event
                store.append_event(3, "c1", "call.transcript", {"text": "x" * 500})
            store.after_commit(lambda: ran.append("published"))
        assert ran == []  # nothing was published
        assert not store.has_processed_key("k1")
        assert store.last_cursor() == cursor_before  # the in-memory counter followed
        event = store.append_event(4, "c2", "call.state", {"n": 2})  # usable again
        assert event["cursor"] == cursor_before + 1
    with sqlite3.connect(tmp_path / FILENAME) as db:
        assert [r[0] for r in db.execute("SELECT call_id FROM events ORDER BY cursor")] == [
            "c0", "c2"]


def _record(call_id: str, state: str, text: str = "") -> dict:
    return {"callId": call_id, "providerCallId": "CA" + call_id, "provider": "twilio",
            "direction": "outbound", "state": state, "from": "+15550001111",
            "to": "+15550002222", "startedAt": 1000, "endedAt": None, "note": text}


def test_call_saves_in_a_batch_are_read_back_and_the_last_one_is_stored(tmp_path):
    with Store.open(tmp_path) as store, store.batch():
        store.save_call(_record("c1", "initiated"))
        assert store.find_call_by_provider_id("CAc1")["state"] == "initiated"
        store.save_call(_record("c1", "ringing"))
        store.save_call(_record("c1", "completed"))
        reader = sqlite3.connect(tmp_path / FILENAME)
        assert reader.execute("SELECT state FROM calls").fetchall() == []  # not committed
    assert reader.execute("SELECT state FROM calls").fetchall() == [("completed",)]
    reader.close()


def test_a_deferred_call_save_that_fails_fails_its_batch(tmp_path):
    with Store.open(tmp_path) as store:
        store._conn().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 300)
        with pytest.raises(StoreError, match="too big"), store.batch():
            store.add_processed_key("k1", 1)
            store.save_call(_record("c1", "completed", "x" * 400))
        assert not store.has_processed_key("k1")
        assert store.get_call("c1") is None


def test_events_appended_in_a_batch_keep_their_cursors_and_are_read_back(tmp_path):
    with Store.open(tmp_path) as store:
        first = store.append_event(1, "c0", "call.created", {})
        with store.batch():
            a = store.append_event(2, "c1", "call.state", {"state": "ringing"})
            b = store.append_event(3, "c1", "call.ended", {"reason": "completed"})
            assert (a["cursor"], b["cursor"]) == (first["cursor"] + 1, first["cursor"] + 2)
            assert [e["cursor"] for e in store.events_after(first["cursor"])] == [
                a["cursor"], b["cursor"]]
            c = store.append_event(4, "c1", "call.transcript", {"text": "hi"})
        assert store.last_cursor() == c["cursor"]
    with Store.open(tmp_path) as store:
        stored = store.events_after(0)
        assert [(e["cursor"], e["type"], e["data"]) for e in stored] == [
            (first["cursor"], "call.created", {}), (a["cursor"], "call.state", a["data"]),
            (b["cursor"], "call.ended", b["data"]), (c["cursor"], "call.transcript", c["data"])]
        assert store.last_cursor() == c["cursor"]
