"""The call manager's side of opt-in recording (issue 15, item 3), on a real store and bus: a
carrier that refuses to record gives an error event and the call goes on; a recording report
for a call that already left memory lands in its stored record once, however often it is
re-sent; a report for a call never known creates nothing."""

from __future__ import annotations

import pytest
import trio

from tests.daemon.manager_harness import RecordingCarrier, open_env_factory
from voicecall_cli.core.events import EventType
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.providers.base import Capabilities

PID = "carrier-call-1"
CALLER = {"direction": "inbound", "from_number": "+15550001111", "to_number": "+15550000000"}


@pytest.fixture
def open_env(tmp_path):
    return open_env_factory(tmp_path)


async def answered_inbound(env):
    env.event(EventType.INITIATED, PID, provider_call_id=PID, **CALLER)
    env.event(EventType.ANSWERED, PID, provider_call_id=PID)
    call = env.manager.find(PID)
    assert call is not None and call.answered_at is not None
    return call


async def test_a_refused_recording_is_an_error_event_and_the_call_goes_on(open_env, env_nursery):
    carrier = RecordingCarrier(capabilities=Capabilities(recording=True))  # start_recording:
    env = await open_env(CallSettings(inbound_policy="open", record_all=True), carrier,
                         env_nursery)  # the interface's default, which refuses
    call = await answered_inbound(env)
    with trio.fail_after(10):
        while "call.error" not in env.stored_types(call.call_id):
            await trio.sleep(0.01)
    [error] = [e for e in env.store.events_after(0, call.call_id) if e["type"] == "call.error"]
    assert error["data"]["message"].startswith("recording not started: mock: call recording")
    assert env.manager.find(PID) is call and not call.is_terminal


async def test_a_report_after_the_end_lands_in_the_store_once(open_env, env_nursery):
    env = await open_env(CallSettings(inbound_policy="open"), None, env_nursery)
    call = await answered_inbound(env)
    assert "recordingRequestedAt" not in call.metadata  # not asked for: never started
    env.event(EventType.ENDED, PID, provider_call_id=PID, reason="hangup-user")
    assert env.manager.find(PID) is None  # gone from memory
    for _ in range(2):  # the carrier re-sends its report
        env.event(EventType.RECORDING, call.call_id, provider_call_id=PID,
                  recording_url="https://rec.example/1.mp3", recording_duration_s=7,
                  dedupe_key="carrier:recording:1")
    stored = env.store.get_call(call.call_id)
    assert stored["recording"] == {"url": "https://rec.example/1.mp3", "durationSec": 7}
    assert stored["endReason"] == "hangup-user"
    assert env.stored_types(call.call_id).count("call.recording") == 1
    env.event(EventType.RECORDING, "never-known", recording_url="https://rec.example/2.mp3",
              dedupe_key="carrier:recording:2")
    assert env.store.get_call("never-known") is None
    assert env.store.find_call_by_provider_id("never-known") is None
    assert env.stored_types("never-known") == []
