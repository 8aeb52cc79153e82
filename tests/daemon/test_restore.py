"""Restoring live calls after a restart (reference 3.2 with the 'L' remaining-time rule)."""

from __future__ import annotations

import time

import trio

from voicecall_cli.core.call import CallRecord
from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.store import Store
from voicecall_cli.providers.base import ProviderCallStatus

from .manager_harness import RecordingCarrier, open_env_factory


def seed(store: Store, call_id: str, *, started_ago_s: float, answered_ago_s: float | None,
         pid: str | None, state: CallState = CallState.LISTENING) -> None:
    now = int(time.time() * 1000)
    store.save_call(CallRecord(
        call_id=call_id, provider="mock", direction="outbound", state=state,
        from_number="+15550000000", to_number="+15550001111",
        started_at=now - int(started_ago_s * 1000), provider_call_id=pid,
        answered_at=None if answered_ago_s is None else now - int(answered_ago_s * 1000),
        metadata={"mode": "conversation"}).to_dict())


async def test_restore_rules(tmp_path, autojump_clock, env_nursery) -> None:
    with Store.open(tmp_path / "state") as store:
        seed(store, "answered", started_ago_s=295, answered_ago_s=290, pid="mock-answered")
        seed(store, "no-pid", started_ago_s=5, answered_ago_s=None, pid=None,
             state=CallState.INITIATED)
        seed(store, "too-old", started_ago_s=400, answered_ago_s=390, pid="mock-too-old")
        seed(store, "carrier-ended", started_ago_s=5, answered_ago_s=4, pid="mock-done")
        seed(store, "unknown", started_ago_s=5, answered_ago_s=4, pid="mock-unknown")
        store.journal_begin("no-pid", "+15550001111", "+15550000000", "conversation", 1)
    carrier = RecordingCarrier(statuses={
        "mock-done": ProviderCallStatus("ended", "completed", raw="completed"),
        "mock-unknown": ProviderCallStatus("unknown", raw="error")})
    env = await open_env_factory(tmp_path)(CallSettings(max_duration_s=300), carrier,
                                           nursery=env_nursery)
    assert sorted(env.manager.calls) == ["answered", "unknown"]
    assert env.store.get_call("no-pid")["state"] == "failed"
    assert env.store.journal_get("no-pid")["status"] == "failed"
    assert env.store.get_call("too-old")["state"] == "timeout"
    assert env.store.get_call("carrier-ended")["state"] == "completed"
    assert ("hangup", "mock-too-old", "timeout") in carrier.log
    assert carrier.of("place") == []  # nothing is ever dialled again
    await trio.sleep(0.1)
    assert ("resume", "answered") in carrier.log
    # 290 s of 300 s had elapsed: still live at +9 s, ended (timeout) by +10.1 s.
    await trio.sleep(9)
    assert "answered" in env.manager.calls
    await trio.sleep(1.2)
    assert env.store.get_call("answered")["state"] == "timeout"
    assert "unknown" in env.manager.calls
