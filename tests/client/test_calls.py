"""CallsApi: typed answers from the control API, against the fake daemon's canned replies."""

from __future__ import annotations

import trio

from tests.cli.conftest import Env
from tests.cli.fake_daemon import FakeDaemon, Reply, Stream
from voicecall_cli.client.calls import CallsApi
from voicecall_cli.client.control import ControlClient
from voicecall_cli.protocol import ApiError, ErrorCode, InitiateRequest

CALL = {"callId": "c-1", "providerCallId": "p-1", "provider": "mock", "direction": "outbound",
        "state": "listening", "from": "+15550000000", "to": "+15550001111", "startedAt": 1,
        "answeredAt": 2, "endedAt": None, "endReason": None, "transcript": [], "metadata": {}}
ENDED = {**CALL, "state": "completed", "endedAt": 9, "endReason": "completed",
         "transcript": [{"timestamp": 3, "speaker": "user", "text": "Bye.", "isFinal": True}]}


def api(env: Env, timeout: float = 5) -> CallsApi:
    return CallsApi(ControlClient(env.socket, timeout, on_warning=lambda _m: None))


async def in_thread(func, *args):
    with trio.fail_after(20):
        return await trio.to_thread.run_sync(func, *args, abandon_on_cancel=True)


def api_error(func, *args) -> ApiError:
    try:
        func(*args)
    except ApiError as err:
        return err
    raise AssertionError("no ApiError raised")


async def test_answers_become_views(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.initiate", {"callId": "c-1", "initiated": True, "replayed": True})
    fake.answer("voicecall.status", {"found": True, "call": CALL})
    result = await in_thread(api(env).initiate, InitiateRequest(message="Hi", origin="mcp"))
    assert (result.callId, result.replayed) == ("c-1", True)
    assert fake.requests[-1].body == {"message": "Hi", "origin": "mcp"}
    call = await in_thread(api(env).status, "c-1")
    assert call is not None and call.state == "listening" and call.from_ == "+15550000000"


async def test_an_answer_that_does_not_fit_is_a_protocol_mismatch(env: Env,
                                                                  fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"found": True, "call": {**CALL, "startedAt": "soon"}})
    err = await in_thread(api_error, api(env).status, "c-1")
    assert err.code is ErrorCode.PROTOCOL_MISMATCH
    assert "CallView.startedAt: expected an integer" in err.message


async def test_waiting_follows_the_events_until_the_call_ends(env: Env,
                                                              fake: FakeDaemon) -> None:
    replies = iter([{"found": True, "call": CALL}, {"found": True, "call": ENDED}])
    fake.on("POST", "/v1/voicecall.status", lambda _req: Reply(200, next(replies)))
    fake.on("GET", "/v1/events", Stream([
        {"type": "snapshot", "cursor": 1, "calls": []},
        {"cursor": 2, "ts": 5, "callId": "c-1", "type": "call.state", "data": {}},
        {"cursor": 3, "ts": 9, "callId": "c-1", "type": "call.ended", "data": {}}]))
    ended = await in_thread(api(env).wait_until_ended, "c-1", 10)
    assert ended.endReason == "completed" and ended.transcript_text() == "user: Bye."
    events = [r for r in fake.requests if r.path == "/v1/events"]
    assert events[0].query == {"since": "all", "callId": "c-1"}  # from its first event


async def test_waiting_times_out_at_its_deadline(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"found": True, "call": CALL})
    fake.on("GET", "/v1/events", Stream([{"type": "snapshot", "cursor": 1, "calls": []}]))
    # The event stream never ends the call: returning at all is the deadline at work (the hang
    # guard catches a wait that never ends).
    err = await in_thread(api_error, api(env).wait_until_ended, "c-1", 0.4)
    assert err.code is ErrorCode.TIMEOUT
    assert "has not ended within 0.4 s (it is listening)" in err.message


async def test_an_unknown_call_is_not_waited_for(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"found": False})
    err = await in_thread(api_error, api(env).wait_until_ended, "nope", 10)
    assert err.code is ErrorCode.CALL_NOT_FOUND
