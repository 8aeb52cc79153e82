"""Touch tones in the call manager, on a real store and bus, a recording carrier and trio's
MockClock: which keys answer a turn and when (``#``, the 3 s gap, a carrier-collected answer),
what never does (speech in a dtmf-only turn, an older turn's keys), and the errors of
``voicecall.dtmf``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import trio

from voicecall_cli.core.events import EventType
from voicecall_cli.daemon.calls import dtmf, operations
from voicecall_cli.daemon.calls.keys import KEY_GAP_MS
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.protocol import (
    ApiError,
    ContinueRequest,
    DtmfRequest,
    EndRequest,
    ErrorCode,
    InitiateRequest,
)
from voicecall_cli.providers.base import Capabilities, ProviderError

from .manager_harness import Env, RecordingCarrier, open_env_factory

CONVERSATION = CallSettings(default_mode="conversation", to_number="+15550001111",
                            max_concurrent_calls=2)


@dataclass
class KeyCarrier(RecordingCarrier):
    """The recording carrier with touch tones: it logs the keys it is asked to play and what
    each listening turn accepts."""

    fail_keys: bool = False

    async def start_listening(self, call_id: str, provider_call_id: str,
                              turn_token: str | None, *, accept: str = "speech") -> None:
        self.log.append(("listen", call_id, turn_token, accept))

    async def send_dtmf(self, call_id: str, provider_call_id: str, digits: str) -> None:
        self.log.append(("keys", provider_call_id, digits))
        if self.fail_keys:
            raise ProviderError("Telnyx API error: 422 call is not answered")


async def open_call(tmp_path, env_nursery, carrier: RecordingCarrier | None = None
                    ) -> tuple[Env, str]:
    carrier = carrier or KeyCarrier(capabilities=Capabilities(dtmf=True))
    env = await open_env_factory(tmp_path)(CONVERSATION, carrier, nursery=env_nursery)
    call_id = (await operations.initiate(env.manager, InitiateRequest(message="Hi")))["callId"]
    env.event(EventType.ANSWERED, call_id)
    await trio.sleep(0.01)
    return env, call_id


def dtmf_events(env: Env, call_id: str) -> list[tuple[str, str]]:
    return [(e["data"]["direction"], e["data"]["digits"])
            for e in env.store.events_after(0, call_id) if e["type"] == "call.dtmf"]


class Turn:
    """A ``continue`` running in the background; ``result`` once it returned."""

    def __init__(self, env: Env, call_id: str, accept: str | None) -> None:
        self.env, self.call_id, self.accept = env, call_id, accept
        self.result: dict[str, Any] | None = None
        self.error: ApiError | None = None

    async def run(self) -> None:
        try:
            self.result = await operations.continue_call(self.env.manager, ContinueRequest(
                callId=self.call_id, message="Your code?", accept=self.accept))
        except ApiError as exc:
            self.error = exc

    @property
    def token(self) -> str:
        return self.env.carrier.of("listen")[-1][2]


async def test_keys_until_hash_answer_a_dtmf_turn_and_every_key_is_stored(
        tmp_path, autojump_clock, env_nursery) -> None:
    env, call_id = await open_call(tmp_path, env_nursery)
    turn = Turn(env, call_id, "dtmf")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(turn.run)
        await trio.sleep(1)
        assert env.carrier.of("listen")[-1][3] == "dtmf"  # the carrier is asked for keys
        env.event(EventType.SPEECH, call_id, transcript="one two", turn_token=turn.token)
        for key in "12":
            env.event(EventType.DTMF, call_id, digits=key)
            await trio.sleep(1)  # slower than a typist, within the gap
        assert turn.result is None
        env.event(EventType.DTMF, call_id, digits="#")
    assert turn.result == {"success": True, "transcript": "12", "input": "dtmf",
                           "digits": "12"}
    assert dtmf_events(env, call_id) == [("in", "1"), ("in", "2"), ("in", "#")]
    # the speech was heard and kept, but did not answer a turn that takes only keys
    assert ("user", "one two") in [(t.speaker, t.text)
                                   for t in env.manager.calls[call_id].transcript]


async def test_keys_without_hash_answer_after_the_gap(tmp_path, autojump_clock,
                                                      env_nursery) -> None:
    env, call_id = await open_call(tmp_path, env_nursery)
    turn = Turn(env, call_id, "both")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(turn.run)
        await trio.sleep(1)
        env.event(EventType.DTMF, call_id, digits="7")
        started = trio.current_time()
        await trio.sleep(KEY_GAP_MS / 1000 - 0.1)
        assert turn.result is None
        env.event(EventType.DTMF, call_id, digits="3")  # restarts the gap
        await trio.sleep(KEY_GAP_MS / 1000 - 0.1)
        assert turn.result is None
    assert turn.result == {"success": True, "transcript": "73", "input": "dtmf",
                           "digits": "73"}
    assert trio.current_time() - started == pytest.approx(2 * KEY_GAP_MS / 1000 - 0.1,
                                                          abs=0.05)


async def test_speech_answers_a_both_turn_and_says_so(tmp_path, autojump_clock,
                                                      env_nursery) -> None:
    env, call_id = await open_call(tmp_path, env_nursery)
    turn = Turn(env, call_id, "both")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(turn.run)
        await trio.sleep(1)
        env.event(EventType.SPEECH, call_id, transcript="Yes please", turn_token=turn.token)
    assert turn.result == {"success": True, "transcript": "Yes please", "input": "speech"}


async def test_a_carrier_collected_answer_counts_at_once_and_an_older_turns_never(
        tmp_path, autojump_clock, env_nursery) -> None:
    env, call_id = await open_call(tmp_path, env_nursery)
    turn = Turn(env, call_id, "dtmf")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(turn.run)
        await trio.sleep(1)
        env.event(EventType.DTMF, call_id, digits="99", keys_complete=True, turn_token="old")
        await trio.sleep(KEY_GAP_MS / 1000 + 1)
        assert turn.result is None  # another turn's Gather result
        env.event(EventType.DTMF, call_id, digits="5", keys_complete=True,
                  turn_token=turn.token)
    assert turn.result == {"success": True, "transcript": "5", "input": "dtmf", "digits": "5"}
    assert dtmf_events(env, call_id) == [("in", "99"), ("in", "5")]  # both stored


async def test_keys_never_answer_a_speech_turn(tmp_path, autojump_clock, env_nursery) -> None:
    env, call_id = await open_call(tmp_path, env_nursery)
    turn = Turn(env, call_id, None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(turn.run)
        await trio.sleep(1)
        assert env.carrier.of("listen")[-1][3] == "speech"
        env.event(EventType.DTMF, call_id, digits="1#")
        await trio.sleep(KEY_GAP_MS / 1000 + 1)
        assert turn.result is None
        env.event(EventType.SPEECH, call_id, transcript="Sure", turn_token=turn.token)
    assert turn.result == {"success": True, "transcript": "Sure"}  # the old shape
    assert dtmf_events(env, call_id) == [("in", "1#")]


async def test_dtmf_sends_the_keys_and_records_them(tmp_path, autojump_clock,
                                                    env_nursery) -> None:
    env, call_id = await open_call(tmp_path, env_nursery)
    answer = await dtmf.send(env.manager, DtmfRequest(callId=call_id[:8], digits="ww1W#"))
    assert answer == {"success": True}
    assert env.carrier.of("keys") == [("keys", f"mock-{call_id}", "ww1W#")]
    assert dtmf_events(env, call_id) == [("out", "ww1W#")]


async def test_dtmf_errors(tmp_path, autojump_clock, env_nursery) -> None:
    carrier = KeyCarrier(capabilities=Capabilities(dtmf=True), fail_keys=True)
    env, call_id = await open_call(tmp_path, env_nursery, carrier)
    with pytest.raises(ApiError) as failed:
        await dtmf.send(env.manager, DtmfRequest(callId=call_id, digits="1"))
    assert failed.value.code is ErrorCode.OPERATION_FAILED
    assert "sending touch tones failed" in failed.value.message and "422" in failed.value.message
    assert dtmf_events(env, call_id) == []  # not accepted by the carrier: not recorded
    assert not env.manager.calls[call_id].is_terminal  # the call goes on
    with pytest.raises(ApiError) as unknown:
        await dtmf.send(env.manager, DtmfRequest(callId="no-such-call", digits="1"))
    assert unknown.value.code is ErrorCode.CALL_NOT_FOUND
    await operations.end(env.manager, EndRequest(callId=call_id))
    with pytest.raises(ApiError) as ended:
        await dtmf.send(env.manager, DtmfRequest(callId=call_id, digits="1"))
    assert ended.value.code is ErrorCode.OPERATION_FAILED and "ended" in ended.value.message


async def test_a_provider_without_touch_tones_says_so(tmp_path, autojump_clock,
                                                      env_nursery) -> None:
    env, call_id = await open_call(tmp_path, env_nursery, KeyCarrier())
    with pytest.raises(ApiError) as refused:
        await dtmf.send(env.manager, DtmfRequest(callId=call_id, digits="1"))
    assert refused.value.code is ErrorCode.OPERATION_FAILED
    assert refused.value.message == "the mock provider cannot send touch tones"
    assert env.carrier.of("keys") == []


@pytest.mark.parametrize(("digits", "message"), [
    ("", "digits required"), ("12p", "'p' is not a touch tone"),
    ("1" * 65, "at most 64"), ("ab", "'a' is not a touch tone")])
def test_the_request_refuses_what_is_not_a_key(digits: str, message: str) -> None:
    with pytest.raises(ApiError) as bad:
        DtmfRequest.parse({"callId": "c1", "digits": digits})
    assert bad.value.code is ErrorCode.BAD_REQUEST and message in bad.value.message
    with pytest.raises(ApiError, match="accept must be"):
        ContinueRequest.parse({"callId": "c1", "message": "m", "accept": "keys"})


async def test_a_stream_gone_while_keys_play_is_given_their_time_then_the_call_ends(
        tmp_path, autojump_clock, env_nursery) -> None:
    """Twilio closes a call's media stream to play keys; the disconnect grace must not end
    the call meanwhile, but a stream that never comes back still ends it."""
    from voicecall_cli.daemon.calls.keys import play_seconds
    from voicecall_cli.daemon.media.streaming import StreamHooks

    env, call_id = await open_call(tmp_path, env_nursery)
    hooks = StreamHooks()
    hooks.bind(env.manager, None)
    pid = f"mock-{call_id}"
    await dtmf.send(env.manager, DtmfRequest(callId=call_id, digits="123"))
    hooks.on_disconnect_timeout(pid)  # the grace ran out while the keys play
    await trio.sleep(play_seconds("123") - 1)
    assert env.carrier.of("hangup") == [] and not env.manager.calls[call_id].is_terminal
    await trio.sleep(2)
    assert env.carrier.of("hangup") == [("hangup", pid, "hangup-bot")]

    env2, other = await open_call(tmp_path / "b", env_nursery)
    hooks.bind(env2.manager, None)
    hooks.on_disconnect_timeout(f"mock-{other}")  # no keys: ended at once
    await trio.sleep(0.1)
    assert env2.carrier.of("hangup") == [("hangup", f"mock-{other}", "hangup-bot")]
