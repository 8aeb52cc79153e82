"""The call manager on a real store and bus, a recording carrier and trio's MockClock.

The carrier here is a stand-in at the carrier edge (the ProviderClient interface): it records
what the manager asks of the carrier. Carrier events are fed as the webhook server would.
"""

from __future__ import annotations

import pytest
import trio

from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.daemon.calls import operations
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.protocol import (
    ApiError,
    CallsRequest,
    ContinueRequest,
    EndRequest,
    ErrorCode,
    InitiateRequest,
    SpeakRequest,
    StatusRequest,
)
from voicecall_cli.providers.base import Capabilities

from .manager_harness import Env, RecordingCarrier, open_env_factory

CONVERSATION = CallSettings(default_mode="conversation", to_number="+15550001111",
                            max_concurrent_calls=2)


async def answered_call(env: Env, message: str = "Hello there") -> str:
    result = await operations.initiate(env.manager, InitiateRequest(message=message))
    call_id = result["callId"]
    env.event(EventType.RINGING, call_id)
    env.event(EventType.ANSWERED, call_id)
    await trio.sleep(0.01)  # the greeting task runs
    return call_id


async def test_outbound_call_is_journalled_dialled_and_greeted(tmp_path, autojump_clock,
                                                               env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    call_id = await answered_call(env)
    assert env.carrier.of("place") == [("place", call_id, "+15550001111")]
    assert env.store.journal_get(call_id)["providerCallId"] == f"mock-{call_id}"
    assert env.carrier.of("play") == [("play", call_id, "Hello there")]
    call = env.manager.calls[call_id]
    assert [t.text for t in call.transcript] == ["Hello there"]
    assert "initialMessage" not in call.metadata
    types = env.stored_types(call_id)
    assert types[:2] == ["call.created", "call.dialled"]
    assert "call.transcript" in types


async def test_notify_call_hangs_up_exactly_after_the_delay(tmp_path, autojump_clock,
                                                            env_nursery) -> None:
    settings = CallSettings(default_mode="notify", to_number="+15550001111")
    env = await open_env_factory(tmp_path)(settings, nursery=env_nursery)
    call_id = await answered_call(env, "Your order shipped")
    await trio.sleep(2.98)
    assert env.carrier.of("hangup") == []
    await trio.sleep(0.05)
    assert env.carrier.of("hangup") == [("hangup", f"mock-{call_id}", "hangup-bot")]
    stored = env.store.get_call(call_id)
    assert stored["state"] == "hangup-bot" and stored["endReason"] == "hangup-bot"


async def test_continue_waits_for_the_matching_turn_token(tmp_path, autojump_clock,
                                                          env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    call_id = await answered_call(env)
    result: dict = {}

    async def turn() -> None:
        result.update(await operations.continue_call(
            env.manager, ContinueRequest(callId=call_id, message="Does ten work?")))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(turn)
        await trio.sleep(1)
        token = env.carrier.of("listen")[0][2]
        assert token
        with pytest.raises(ApiError) as conflict:
            await operations.continue_call(env.manager,
                                           ContinueRequest(callId=call_id, message="again?"))
        assert conflict.value.code is ErrorCode.CONFLICT
        env.event(EventType.SPEECH, call_id, transcript="stale answer", turn_token="old")
        await trio.sleep(1)
        assert result == {}
        env.event(EventType.SPEECH, call_id, transcript="Ten is fine", turn_token=token)
    assert result == {"success": True, "transcript": "Ten is fine"}
    call = env.manager.calls[call_id]
    assert [(t.speaker, t.text) for t in call.transcript] == [
        ("bot", "Hello there"), ("bot", "Does ten work?"), ("user", "Ten is fine")]
    assert call.metadata["turnCount"] == 1
    assert call.metadata["lastTurnLatencyMs"] >= call.metadata["lastTurnListenWaitMs"] >= 1000
    assert len(env.carrier.of("listen")) == 1 and len(env.carrier.of("stop-listening")) == 1


async def test_continue_times_out(tmp_path, autojump_clock, env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    call_id = await answered_call(env)
    with pytest.raises(ApiError) as err:
        await operations.continue_call(env.manager, ContinueRequest(
            callId=call_id, message="Hello?", timeoutMs=1000))
    assert err.value.code is ErrorCode.TIMEOUT
    assert err.value.message == "Timed out waiting for transcript after 1000ms"
    assert call_id not in env.manager.waiters


async def test_continue_reports_a_provider_that_cannot_listen(tmp_path, autojump_clock,
                                                            env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    call_id = await answered_call(env)
    env.carrier.fail_listen = True
    with pytest.raises(ApiError) as err:
        await operations.continue_call(env.manager,
                                       ContinueRequest(callId=call_id, message="Hi?"))
    assert err.value.code is ErrorCode.OPERATION_FAILED
    assert err.value.message == "twilio API error: 400 cannot listen"
    assert call_id not in env.manager.waiters


async def test_continue_fails_when_the_caller_hangs_up(tmp_path, autojump_clock,
                                                       env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    call_id = await answered_call(env)
    async with trio.open_nursery() as nursery:
        async def hang_up_soon() -> None:
            await trio.sleep(2)
            env.event(EventType.ENDED, call_id, reason="hangup-user")
        nursery.start_soon(hang_up_soon)
        with pytest.raises(ApiError) as err:
            await operations.continue_call(env.manager,
                                           ContinueRequest(callId=call_id, message="Hi?"))
    assert err.value.message == "Call ended: hangup-user"
    assert operations.status(env.manager, StatusRequest(callId=call_id))["call"]["state"] == \
        "hangup-user"


async def test_max_duration_hangs_up_with_timeout(tmp_path, autojump_clock, env_nursery) -> None:
    settings = CallSettings(default_mode="conversation", to_number="+15550001111",
                            max_duration_s=300)
    env = await open_env_factory(tmp_path)(settings, nursery=env_nursery)
    call_id = await answered_call(env)
    await trio.sleep(299)
    assert env.carrier.of("hangup") == []
    await trio.sleep(2)
    assert env.carrier.of("hangup") == [("hangup", f"mock-{call_id}", "timeout")]
    assert env.store.get_call(call_id)["state"] == "timeout"


async def test_max_concurrent_calls_is_a_conflict(tmp_path, autojump_clock, env_nursery) -> None:
    settings = CallSettings(to_number="+15550001111", max_concurrent_calls=1)
    env = await open_env_factory(tmp_path)(settings, nursery=env_nursery)
    await operations.initiate(env.manager, InitiateRequest(message="one"))
    with pytest.raises(ApiError) as err:
        await operations.initiate(env.manager, InitiateRequest(message="two"))
    assert err.value.code is ErrorCode.CONFLICT
    assert err.value.message == "Maximum concurrent calls (1) reached"


async def test_rejected_inbound_caller_is_hung_up_once(tmp_path, autojump_clock,
                                                        env_nursery) -> None:
    settings = CallSettings(inbound_policy="allowlist", allow_from=("+15550001234",))
    env = await open_env_factory(tmp_path)(settings, nursery=env_nursery)
    for kind in (EventType.INITIATED, EventType.RINGING, EventType.RINGING):
        env.event(kind, "CA-evil", provider_call_id="CA-evil", direction="inbound",
                  from_number="+99915550001234", to_number="+15550000000")
    await trio.sleep(0.1)
    assert env.carrier.of("hangup") == [("hangup", "CA-evil", "hangup-bot")]
    assert env.manager.calls == {}
    assert [e["type"] for e in env.store.events_after(0)].count("call.rejected") == 1


async def test_allowed_inbound_caller_is_greeted(tmp_path, autojump_clock, env_nursery) -> None:
    settings = CallSettings(inbound_policy="allowlist", allow_from=("+1 555 000 1234",),
                            inbound_greeting="Hi, you reached the bot")
    env = await open_env_factory(tmp_path)(settings, nursery=env_nursery)
    env.event(EventType.INITIATED, "CA-ok", provider_call_id="CA-ok", direction="inbound",
              from_number="+15550001234", to_number="+15550000000")
    env.event(EventType.ANSWERED, "CA-ok", provider_call_id="CA-ok")
    await trio.sleep(0.1)
    [call] = env.manager.calls.values()
    assert call.direction == "inbound" and call.from_number == "+15550001234"
    assert env.carrier.of("play") == [("play", call.call_id, "Hi, you reached the bot")]


async def test_duplicate_event_keys_have_no_effect(tmp_path, autojump_clock, env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    call_id = await answered_call(env)
    speech = NormalizedEvent(type=EventType.SPEECH, id="same", call_id=call_id,
                             timestamp=env.manager.now_ms(), transcript="once",
                             dedupe_key="mock:abc")
    env.manager.handle_events([speech])
    env.manager.handle_events([speech])
    call = env.manager.calls[call_id]
    assert [t.text for t in call.transcript if t.speaker == "user"] == ["once"]


async def test_speak_and_end(tmp_path, autojump_clock, env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    call_id = await answered_call(env)
    assert await operations.speak(env.manager, SpeakRequest(callId=call_id, message="One moment")
                                  ) == {"success": True}
    assert env.manager.calls[call_id].state.value == "speaking"
    assert await operations.end(env.manager, EndRequest(callId=call_id)) == {"success": True}
    assert await operations.end(env.manager, EndRequest(callId=call_id)) == {"success": True}
    assert len(env.carrier.of("hangup")) == 1
    status = operations.status(env.manager, StatusRequest(callId=call_id))
    assert status["found"] and status["call"]["state"] == "hangup-bot"
    assert "processedEventIds" not in status["call"]
    with pytest.raises(ApiError) as err:
        await operations.speak(env.manager, SpeakRequest(callId=call_id, message="late"))
    assert err.value.message == "Call has ended"
    with pytest.raises(ApiError) as missing:
        await operations.end(env.manager, EndRequest(callId="nope"))
    assert missing.value.code is ErrorCode.CALL_NOT_FOUND


async def test_failed_hangup_keeps_the_call_live(tmp_path, autojump_clock, env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, RecordingCarrier(fail_hangup=True),
                                           nursery=env_nursery)
    call_id = await answered_call(env)
    with pytest.raises(ApiError) as err:
        await operations.end(env.manager, EndRequest(callId=call_id))
    assert err.value.code is ErrorCode.OPERATION_FAILED
    assert not env.manager.calls[call_id].is_terminal


async def test_stale_reaper_ends_only_unanswered_calls(tmp_path, autojump_clock,
                                                       env_nursery) -> None:
    settings = CallSettings(to_number="+15550001111", max_concurrent_calls=5,
                            default_mode="conversation", stale_call_reaper_s=60,
                            max_duration_s=1000)
    env = await open_env_factory(tmp_path)(settings, nursery=env_nursery)
    stuck = (await operations.initiate(env.manager, InitiateRequest(message="hi")))["callId"]
    live = await answered_call(env)
    await trio.sleep(95)
    assert env.store.get_call(stuck)["state"] == "hangup-bot"
    assert not env.manager.calls[live].is_terminal


async def test_speak_on_a_ringing_call_waits_for_the_answer_and_the_greeting(
        tmp_path, autojump_clock, env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    call_id = (await operations.initiate(env.manager, InitiateRequest(message="Hi")))["callId"]
    env.event(EventType.RINGING, call_id)
    spoken = trio.Event()

    async def speak() -> None:
        await operations.speak(env.manager, SpeakRequest(callId=call_id, message="Later"))
        spoken.set()

    env_nursery.start_soon(speak)
    await trio.sleep(10)  # rings for a while: nothing is said yet
    assert env.carrier.of("play") == [] and not spoken.is_set()
    assert env.manager.calls[call_id].state.value == "ringing"
    env.event(EventType.ANSWERED, call_id)
    with trio.fail_after(5):
        await spoken.wait()
    assert [entry[2] for entry in env.carrier.of("play")] == ["Hi", "Later"]


async def test_speak_on_a_call_that_never_answers_times_out_or_fails_when_it_ends(
        tmp_path, autojump_clock, env_nursery) -> None:
    settings = CallSettings(default_mode="conversation", to_number="+15550001111",
                            max_concurrent_calls=2, ring_timeout_ms=20_000)
    env = await open_env_factory(tmp_path)(settings, nursery=env_nursery)
    call_id = (await operations.initiate(env.manager, InitiateRequest(message="Hi")))["callId"]
    started = trio.current_time()
    with pytest.raises(ApiError) as waited:
        await operations.speak(env.manager, SpeakRequest(callId=call_id, message="Hello?"))
    assert waited.value.code is ErrorCode.TIMEOUT
    assert trio.current_time() - started == pytest.approx(20 + operations.ANSWER_WAIT_MARGIN_S)

    async def end_soon() -> None:
        await trio.sleep(1)
        env.event(EventType.ENDED, call_id, reason="no-answer")

    env_nursery.start_soon(end_soon)
    with pytest.raises(ApiError) as ended:
        await operations.continue_call(env.manager, ContinueRequest(callId=call_id,
                                                                    message="Hello?"))
    assert ended.value.code is ErrorCode.OPERATION_FAILED
    assert "no-answer" in ended.value.message
    assert env.carrier.of("play") == []


async def test_unique_id_prefixes_name_live_and_ended_calls(tmp_path, autojump_clock,
                                                            env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    live = await answered_call(env)
    ended = await answered_call(env)
    await operations.end(env.manager, EndRequest(callId=ended[:8]))
    assert env.manager.store.get_call(ended)["state"] == "hangup-bot"
    status = operations.status(env.manager, StatusRequest(callId=live[:8]))
    assert status["call"]["callId"] == live
    assert operations.status(env.manager, StatusRequest(callId=ended[:6]))["call"]["callId"] \
        == ended
    await operations.speak(env.manager, SpeakRequest(callId=live[:5], message="Still here"))
    assert env.carrier.of("play")[-1] == ("play", live, "Still here")
    assert operations.status(env.manager, StatusRequest(callId=live[:3])) == {"found": False}
    with pytest.raises(ApiError) as missing:
        await operations.end(env.manager, EndRequest(callId="ffffffff"))
    assert missing.value.code is ErrorCode.CALL_NOT_FOUND


async def test_a_prefix_of_several_calls_is_refused(tmp_path, autojump_clock,
                                                   env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    first = await answered_call(env)
    second = await answered_call(env)
    for call_id in (first, second):  # two more stored calls whose ids share a prefix
        record = env.manager.store.get_call(call_id)
        record["callId"] = "abcd" + call_id
        env.manager.store.save_call(record)
    with pytest.raises(ApiError) as ambiguous:
        operations.status(env.manager, StatusRequest(callId="abcd"))
    assert ambiguous.value.code is ErrorCode.BAD_REQUEST
    assert "several calls" in ambiguous.value.message
    assert operations.status(env.manager, StatusRequest(callId="abcd" + first[:4]))["found"]


async def test_calls_lists_past_and_present_calls_newest_first(tmp_path, autojump_clock,
                                                               env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    first = await answered_call(env)
    await operations.end(env.manager, EndRequest(callId=first))
    await trio.sleep(60)
    since = env.manager.now_ms()
    second = await answered_call(env)

    def ids(**body) -> list[str]:
        result = operations.calls(env.manager, CallsRequest.parse(body))
        assert all("processedEventIds" not in call for call in result["calls"])
        return [call["callId"] for call in result["calls"]]

    assert ids() == [second, first]
    assert ids(state="active") == [second]
    assert ids(state="ended") == [first]
    assert ids(state="hangup-bot") == [first]
    assert ids(state="ringing") == []
    assert ids(since=since) == [second]
    assert ids(limit=1) == [second]
    with pytest.raises(ApiError) as bad:
        ids(state="sleeping")
    assert bad.value.code is ErrorCode.BAD_REQUEST and "hangup-bot" in bad.value.message


async def test_a_call_from_another_number(tmp_path, autojump_clock, env_nursery) -> None:
    env = await open_env_factory(tmp_path)(CONVERSATION, nursery=env_nursery)
    placed = await operations.initiate(env.manager, InitiateRequest(
        message="Hi", from_="+15550007777"))
    assert env.manager.calls[placed["callId"]].from_number == "+15550007777"
    with pytest.raises(ApiError) as bad:
        await operations.initiate(env.manager, InitiateRequest(message="Hi", from_="12"))
    assert bad.value.code is ErrorCode.BAD_REQUEST and bad.value.message.startswith("from:")


# -- inbound calls on providers that answer them explicitly ----------------------------------------

ALLOWLIST = CallSettings(inbound_policy="allowlist", allow_from=("+15550001234",),
                         inbound_greeting="Hi, you reached the bot")


def inbound_initiated(env: Env, provider_call_id: str, from_number: str,
                      key: str | None = None) -> NormalizedEvent:
    return NormalizedEvent(type=EventType.INITIATED, id=f"ev-{provider_call_id}",
                           call_id=provider_call_id, timestamp=env.manager.now_ms(),
                           provider_call_id=provider_call_id, direction="inbound",
                           from_number=from_number, to_number="+15550000000", dedupe_key=key)


async def test_an_accepted_inbound_call_is_answered_exactly_once(tmp_path, autojump_clock,
                                                                 env_nursery) -> None:
    carrier = RecordingCarrier(capabilities=Capabilities(answer_inbound=True))
    env = await open_env_factory(tmp_path)(ALLOWLIST, carrier, nursery=env_nursery)
    initiated = inbound_initiated(env, "CA-in", "+15550001234", key="mock:initiated-1")
    env.manager.handle_events([initiated])
    env.manager.handle_events([initiated])  # the same webhook delivered again
    env.event(EventType.INITIATED, "CA-in", provider_call_id="CA-in", direction="inbound",
              from_number="+15550001234", to_number="+15550000000")  # a second delivery
    await trio.sleep(0.1)
    assert carrier.of("answer") == [("answer", "CA-in")]
    assert carrier.of("hangup") == []
    [call] = env.manager.calls.values()
    assert call.direction == "inbound" and call.provider_call_id == "CA-in"
    env.event(EventType.ANSWERED, "CA-in", provider_call_id="CA-in")  # the answer's webhook
    await trio.sleep(0.1)
    assert carrier.of("answer") == [("answer", "CA-in")]
    assert carrier.of("play") == [("play", call.call_id, "Hi, you reached the bot")]


async def test_a_rejected_inbound_call_is_never_answered_but_hung_up_once(
        tmp_path, autojump_clock, env_nursery) -> None:
    carrier = RecordingCarrier(capabilities=Capabilities(answer_inbound=True))
    env = await open_env_factory(tmp_path)(ALLOWLIST, carrier, nursery=env_nursery)
    initiated = inbound_initiated(env, "CA-evil", "+99915550001234", key="mock:evil-1")
    env.manager.handle_events([initiated])
    env.manager.handle_events([initiated])
    for kind in (EventType.INITIATED, EventType.RINGING):
        env.event(kind, "CA-evil", provider_call_id="CA-evil", direction="inbound",
                  from_number="+99915550001234", to_number="+15550000000")
    await trio.sleep(0.1)
    assert carrier.of("answer") == []
    assert carrier.of("hangup") == [("hangup", "CA-evil", "hangup-bot")]
    assert env.manager.calls == {}


async def test_with_default_capabilities_inbound_calls_are_not_answered(
        tmp_path, autojump_clock, env_nursery) -> None:
    env = await open_env_factory(tmp_path)(ALLOWLIST, nursery=env_nursery)
    env.manager.handle_events([inbound_initiated(env, "CA-ok", "+15550001234")])
    env.manager.handle_events([inbound_initiated(env, "CA-no", "+19995550000")])
    env.event(EventType.ANSWERED, "CA-ok", provider_call_id="CA-ok")
    await trio.sleep(0.1)
    assert env.carrier.of("answer") == []
    [call] = env.manager.calls.values()
    assert env.carrier.of("play") == [("play", call.call_id, "Hi, you reached the bot")]
    assert env.carrier.of("hangup") == [("hangup", "CA-no", "hangup-bot")]


async def test_outbound_calls_are_never_answered(tmp_path, autojump_clock,
                                                 env_nursery) -> None:
    carrier = RecordingCarrier(capabilities=Capabilities(answer_inbound=True))
    env = await open_env_factory(tmp_path)(CONVERSATION, carrier, nursery=env_nursery)
    await answered_call(env)
    assert carrier.of("answer") == []


async def test_an_unknown_outbound_call_is_not_answered(tmp_path, autojump_clock,
                                                        env_nursery) -> None:
    carrier = RecordingCarrier(capabilities=Capabilities(answer_inbound=True))
    env = await open_env_factory(tmp_path)(CallSettings(), carrier, nursery=env_nursery)
    env.event(EventType.INITIATED, "CA-out", provider_call_id="CA-out", direction="outbound",
              from_number="+15550000000", to_number="+15550001234")  # dialled elsewhere
    await trio.sleep(0.1)
    [call] = env.manager.calls.values()
    assert call.direction == "outbound"
    assert carrier.of("answer") == []
