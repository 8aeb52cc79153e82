"""Answering-machine detection in the call manager (``outbound.machineDetection``): a recording
carrier at the carrier edge, a real store and bus, trio's MockClock. The carriers' own wire
formats are covered through their simulators (tests/e2e/test_machine_detection.py)."""

from __future__ import annotations

import pytest
import trio

from voicecall_cli.core.events import EventType
from voicecall_cli.daemon.calls import machine, operations
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.protocol import ApiError, InitiateRequest, StatusRequest
from voicecall_cli.providers.base import Capabilities

from .manager_harness import Env, RecordingCarrier, open_env_factory

AMD = Capabilities(machine_detection=True)


def settings(mode: str, amd: str) -> CallSettings:
    return CallSettings(default_mode=mode, to_number="+15550001111", machine_detection=amd)


async def open_env(tmp_path, nursery, mode: str, amd: str) -> Env:
    return await open_env_factory(tmp_path)(settings(mode, amd),
                                            RecordingCarrier(capabilities=AMD), nursery=nursery)


async def answered(env: Env, message: str = "Your order shipped") -> str:
    result = await operations.initiate(env.manager, InitiateRequest(message=message))
    call_id = result["callId"]
    env.event(EventType.RINGING, call_id)
    env.event(EventType.ANSWERED, call_id)
    await trio.sleep(0.01)
    return call_id


def answered_by_events(env: Env, call_id: str) -> list[dict]:
    return [e["data"] for e in env.store.events_after(0, call_id)
            if e["type"] == "call.answered_by"]


def status(env: Env, call_id: str) -> dict:
    return operations.status(env.manager, StatusRequest(callId=call_id))["call"]


async def test_voicemail_notify_waits_for_the_beep_then_leaves_the_message(
        tmp_path, autojump_clock, env_nursery) -> None:
    env = await open_env(tmp_path, env_nursery, "notify", "voicemail")
    call_id = await answered(env)
    assert env.carrier.of("place")
    env.event(EventType.ANSWERED_BY, call_id, answered_by="machine")
    await trio.sleep(10)  # the greeting plays: nothing is said over it
    assert env.carrier.of("play") == []
    assert status(env, call_id)["answeredBy"] == "machine"
    env.event(EventType.ANSWERED_BY, call_id, answered_by="machine", greeting_ended=True)
    await trio.sleep(0.01)
    assert env.carrier.of("play") == [("play", call_id, "Your order shipped")]
    await trio.sleep(3.1)  # outbound.notifyHangupDelaySec, then the notify hang-up
    assert env.carrier.of("hangup") == [("hangup", f"mock-{call_id}", "hangup-bot")]
    stored = env.store.get_call(call_id)
    assert stored["answeredBy"] == "machine" and stored["endReason"] == "hangup-bot"
    assert answered_by_events(env, call_id) == [
        {"answeredBy": "machine"}, {"answeredBy": "machine", "greetingEnded": True}]


async def test_voicemail_notify_speaks_at_once_to_a_human(tmp_path, autojump_clock,
                                                          env_nursery) -> None:
    env = await open_env(tmp_path, env_nursery, "notify", "voicemail")
    call_id = await answered(env)
    assert env.carrier.of("play") == []  # nobody knows yet who answered
    env.event(EventType.ANSWERED_BY, call_id, answered_by="human")
    await trio.sleep(0.01)
    assert env.carrier.of("play") == [("play", call_id, "Your order shipped")]
    assert answered_by_events(env, call_id) == [{"answeredBy": "human"}]


async def test_a_result_before_the_answer_is_kept_for_it(tmp_path, autojump_clock,
                                                         env_nursery) -> None:
    env = await open_env(tmp_path, env_nursery, "notify", "voicemail")
    result = await operations.initiate(env.manager, InitiateRequest(message="Hi"))
    call_id = result["callId"]
    env.event(EventType.ANSWERED_BY, call_id, answered_by="human")
    await trio.sleep(0.01)
    assert env.carrier.of("play") == []
    env.event(EventType.ANSWERED, call_id)
    await trio.sleep(0.01)
    assert env.carrier.of("play") == [("play", call_id, "Hi")]


async def test_voicemail_without_a_result_speaks_after_the_wait(tmp_path, autojump_clock,
                                                                env_nursery) -> None:
    env = await open_env(tmp_path, env_nursery, "notify", "voicemail")
    call_id = await answered(env)
    await trio.sleep(machine.RESULT_WAIT_S - 1)
    assert env.carrier.of("play") == []
    await trio.sleep(1.5)
    assert env.carrier.of("play") == [("play", call_id, "Your order shipped")]


async def test_voicemail_notify_hangs_up_on_a_fax(tmp_path, autojump_clock,
                                                  env_nursery) -> None:
    env = await open_env(tmp_path, env_nursery, "notify", "voicemail")
    call_id = await answered(env)
    env.event(EventType.ANSWERED_BY, call_id, answered_by="fax")
    await trio.sleep(0.01)
    assert env.carrier.of("play") == []
    assert env.carrier.of("hangup") == [("hangup", f"mock-{call_id}", "hangup-bot")]


@pytest.mark.parametrize("amd", ["detect", "voicemail"])
async def test_a_conversation_call_that_reaches_a_machine_ends_voicemail(
        tmp_path, autojump_clock, env_nursery, amd) -> None:
    env = await open_env(tmp_path, env_nursery, "conversation", amd)
    call_id = await answered(env)
    env.event(EventType.ANSWERED_BY, call_id, answered_by="machine")
    await trio.sleep(0.01)
    assert env.carrier.of("hangup") == [("hangup", f"mock-{call_id}", "voicemail")]
    call = status(env, call_id)
    assert call["endReason"] == "voicemail" and call["answeredBy"] == "machine"
    assert "call.answered_by" in env.stored_types(call_id)


async def test_detect_only_records_the_result(tmp_path, autojump_clock, env_nursery) -> None:
    env = await open_env(tmp_path, env_nursery, "notify", "detect")
    call_id = await answered(env)
    assert env.carrier.of("play") == [("play", call_id, "Your order shipped")]  # as before
    env.event(EventType.ANSWERED_BY, call_id, answered_by="machine")
    await trio.sleep(0.01)
    assert status(env, call_id)["answeredBy"] == "machine"
    assert env.carrier.of("hangup") == []


async def test_a_human_on_a_conversation_call_stays(tmp_path, autojump_clock,
                                                    env_nursery) -> None:
    env = await open_env(tmp_path, env_nursery, "conversation", "detect")
    call_id = await answered(env)
    env.event(EventType.ANSWERED_BY, call_id, answered_by="human")
    await trio.sleep(1)
    assert env.carrier.of("hangup") == []
    assert env.carrier.of("play") == [("play", call_id, "Your order shipped")]
    assert status(env, call_id)["state"] not in ("voicemail", "completed")


async def test_a_carrier_without_detection_refuses_the_call(tmp_path, autojump_clock,
                                                            env_nursery) -> None:
    env = await open_env_factory(tmp_path)(settings("notify", "detect"), RecordingCarrier(),
                                           nursery=env_nursery)
    with pytest.raises(ApiError, match="cannot detect answering machines"):
        await operations.initiate(env.manager, InitiateRequest(message="Hi"))
    assert env.carrier.of("place") == []


async def test_a_native_notify_carrier_leaves_the_voicemail_to_the_daemon(
        tmp_path, autojump_clock, env_nursery) -> None:
    """Twilio and Plivo say a notify message by themselves; a voicemail call's message is the
    daemon's to say, after the result, however the answer and the result are ordered."""
    carrier = RecordingCarrier(capabilities=Capabilities(native_notify=True,
                                                         machine_detection=True))
    env = await open_env_factory(tmp_path)(settings("notify", "voicemail"), carrier,
                                           nursery=env_nursery)
    result = await operations.initiate(env.manager, InitiateRequest(message="Hi"))
    call_id = result["callId"]
    env.event(EventType.ANSWERED_BY, call_id, answered_by="human")  # before the answer
    env.event(EventType.ANSWERED, call_id)
    await trio.sleep(0.01)
    env.event(EventType.ANSWERED, call_id)  # reported twice (status callback and Url)
    await trio.sleep(0.01)
    assert carrier.of("play") == [("play", call_id, "Hi")]
    assert [t.text for t in env.manager.calls[call_id].transcript] == ["Hi"]


async def test_a_result_for_a_call_placed_without_detection_changes_nothing_else(
        tmp_path, autojump_clock, env_nursery) -> None:
    env = await open_env(tmp_path, env_nursery, "conversation", "off")
    call_id = await answered(env)
    env.event(EventType.ANSWERED_BY, call_id, answered_by="machine")
    await trio.sleep(1)
    assert status(env, call_id)["answeredBy"] == "machine"  # recorded, as the carrier said
    assert env.carrier.of("hangup") == []
