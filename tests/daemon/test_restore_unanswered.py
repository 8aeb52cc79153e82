"""Restored calls that had not been answered (issue #14, item 11): they progress or end with
a clear reason, whatever the carrier (asked where it can be, else ended)."""

from __future__ import annotations

import trio

from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.store import Store
from voicecall_cli.providers.base import ProviderCallStatus

from .manager_harness import RecordingCarrier, open_env_factory
from .test_restore import seed

RING_S = 30


async def test_unanswered_calls_progress_or_end_after_a_restart(
        tmp_path, autojump_clock, env_nursery) -> None:
    with Store.open(tmp_path / "state") as store:
        seed(store, "rings", started_ago_s=5, answered_ago_s=None, pid="p-rings",
             state=CallState.RINGING)
        seed(store, "dialled", started_ago_s=2, answered_ago_s=None, pid="p-dialled",
             state=CallState.INITIATED)
        seed(store, "unknown", started_ago_s=5, answered_ago_s=None, pid="p-unknown",
             state=CallState.RINGING)
        seed(store, "long-ago", started_ago_s=60, answered_ago_s=None, pid="p-long-ago",
             state=CallState.RINGING)
        seed(store, "gone", started_ago_s=5, answered_ago_s=None, pid="p-gone",
             state=CallState.RINGING)
    carrier = RecordingCarrier(statuses={
        "p-rings": ProviderCallStatus("live", raw="ringing"),
        "p-dialled": ProviderCallStatus("live", raw="queued"),
        "p-unknown": ProviderCallStatus("unknown", raw="error"),
        "p-long-ago": ProviderCallStatus("live", raw="ringing")})
    env = await open_env_factory(tmp_path)(
        CallSettings(max_duration_s=300, ring_timeout_ms=RING_S * 1000), carrier,
        nursery=env_nursery)
    await trio.sleep(0.1)

    # The carrier could not say: ended at once, hung up, with the reason stated.
    unknown = env.store.get_call("unknown")
    assert unknown["state"] == "error" and "could not say" in unknown["metadata"][
        "restoreOutcome"]
    assert ("hangup", "p-unknown", "error") in carrier.log
    # Ringing past its ring deadline already: asked again, then hung up as no-answer.
    assert env.store.get_call("long-ago")["state"] == "no-answer"
    assert ("hangup", "p-long-ago", "no-answer") in carrier.log
    # Still ringing on the carrier and within the ring time: kept.
    assert sorted(env.manager.calls) == ["dialled", "gone", "rings"]

    # "rings" is answered in time: it progresses and nothing ends it.
    carrier.statuses["p-gone"] = ProviderCallStatus("ended", "busy", raw="busy")
    env.manager.move(env.manager.calls["rings"], CallState.ANSWERED)
    env.manager.calls["rings"].answered_at = env.manager.now_ms()
    await trio.sleep(RING_S)
    assert sorted(env.manager.calls) == ["rings"]
    assert env.manager.calls["rings"].state == CallState.ANSWERED
    # "gone" ended on the carrier meanwhile (its report was lost): its reason, no hang-up.
    assert env.store.get_call("gone")["state"] == "busy"
    assert not [e for e in carrier.of("hangup") if e[1] == "p-gone"]
    # "dialled" never got answered: no-answer at its ring deadline, hung up.
    assert env.store.get_call("dialled")["state"] == "no-answer"
    assert ("hangup", "p-dialled", "no-answer") in carrier.log
    assert carrier.of("place") == []
