"""The mock carrier end to end: its callee POSTs mock webhooks to a real webhook server.

Real hypercorn on 127.0.0.1 port 0 with the mock codec; the test plays the call manager by
reading the events the server hands to ``on_events``. Delays are real and short (tens of ms).
"""

from __future__ import annotations

import logging
import socket
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial

import pytest
import trio

from voicecall_cli.core.events import EventType
from voicecall_cli.daemon.web.server import serve_webhooks
from voicecall_cli.providers.base import PlaceCallRequest, ProviderError
from voicecall_cli.providers.mock import MockWebhookCodec, open_mock_client
from voicecall_cli.providers.replay import ReplayCache

FAST = {"ringDelayMs": 10, "answerDelayMs": 10, "replyDelayMs": 20,
        "replies": ["first reply", "second reply"]}
CLOCK_MS = 1_700_000_000_000


def clock_ms() -> int:
    return CLOCK_MS


@asynccontextmanager
async def webhook_events():
    """A webhook server; yields (url, receive channel of the NormalizedEvents it accepted)."""
    send, receive = trio.open_memory_channel(100)

    def on_events(events):
        for event in events:
            send.send_nowait(event)

    async with trio.open_nursery() as nursery:
        info = await nursery.start(partial(
            serve_webhooks, bind="127.0.0.1", port=0, path="/voice/webhook",
            codec=MockWebhookCodec(), on_events=on_events, replay=ReplayCache(),
            clock_ms=clock_ms))
        yield info.url, receive
        nursery.cancel_scope.cancel()


@dataclass
class Endpoints:
    """The daemon's endpoints as the mock reads them (only the webhook URL matters)."""

    webhook_url: str | None = None
    signed_url: str | None = None
    stream_url: str | None = None


@asynccontextmanager
async def mock_call(settings: dict, call_id: str = "c1"):
    """Place one call; yields (carrier, provider call id, event channel)."""
    async with webhook_events() as (url, events), open_mock_client(
            settings, endpoints=Endpoints(url), clock_ms=clock_ms) as carrier:
        placed = await carrier.place_call(PlaceCallRequest(
            call_id=call_id, from_number="+15550000000", to_number="+15551234567",
            mode="conversation", message="hello"))
        yield carrier, placed.provider_call_id, events


async def next_event(events, timeout_s: float = 2):
    with trio.fail_after(timeout_s):
        return await events.receive()


async def assert_quiet(events, for_s: float):
    with trio.move_on_after(for_s):
        event = await events.receive()
        pytest.fail(f"unexpected event {event.type} {event.reason}")


async def answered(events):
    assert (await next_event(events)).type is EventType.RINGING
    assert (await next_event(events)).type is EventType.ANSWERED


async def test_placed_call_rings_then_answers():
    with trio.fail_after(10):
        async with mock_call(FAST) as (carrier, provider_call_id, events):
            ringing, answer = await next_event(events), await next_event(events)
            status = await carrier.get_call_status(provider_call_id)
    assert provider_call_id == "mock-c1"
    assert [ringing.type, answer.type] == [EventType.RINGING, EventType.ANSWERED]
    for event in (ringing, answer):
        assert (event.call_id, event.provider_call_id, event.timestamp) == (
            "c1", "mock-c1", CLOCK_MS)
    assert ringing.id != answer.id
    assert (status.state, status.end_reason) == ("live", None)


async def test_callee_replies_with_the_turn_token_after_start_listening():
    with trio.fail_after(10):
        async with mock_call(FAST) as (carrier, pid, events):
            await answered(events)
            await carrier.start_listening("c1", pid, "turn-1")
            first = await next_event(events)
            await carrier.start_listening("c1", pid, "turn-2")
            second = await next_event(events)
    assert first.type is EventType.SPEECH
    assert (first.transcript, first.is_final, first.turn_token) == ("first reply", True, "turn-1")
    assert (second.transcript, second.turn_token) == ("second reply", "turn-2")


async def test_a_question_given_up_on_is_still_answered_under_its_own_turn_token():
    with trio.fail_after(10):
        async with mock_call({**FAST, "replyDelayMs": 50}) as (carrier, pid, events):
            await answered(events)
            await carrier.start_listening("c1", pid, "turn-1")
            await carrier.stop_listening("c1", pid)  # the daemon's continue timed out
            await carrier.start_listening("c1", pid, "turn-2")
            late, reply = await next_event(events), await next_event(events)
    assert (late.transcript, late.turn_token) == ("first reply", "turn-1")
    assert (reply.transcript, reply.turn_token) == ("second reply", "turn-2")


async def test_callee_hangs_up_after_the_configured_number_of_replies():
    with trio.fail_after(10):
        async with mock_call({**FAST, "hangupAfterReplies": 1}) as (carrier, pid, events):
            await answered(events)
            await carrier.start_listening("c1", pid, "turn-1")
            speech = await next_event(events)
            await carrier.start_listening("c1", pid, "turn-2")  # the bot listens again
            ended = await next_event(events)
            await assert_quiet(events, 0.1)
            status = await carrier.get_call_status(pid)
    assert speech.transcript == "first reply"
    assert (ended.type, ended.reason) == (EventType.ENDED, "hangup-user")
    assert (status.state, status.end_reason) == ("ended", "completed")


async def test_callee_hangs_up_a_while_after_answering():
    with trio.fail_after(10):
        async with mock_call({**FAST, "hangupAfterMs": 30}) as (_, _pid, events):
            await answered(events)
            ended = await next_event(events)
    assert (ended.type, ended.reason) == (EventType.ENDED, "hangup-user")


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed"])
async def test_unanswered_outcomes_end_the_call_after_ringing(outcome):
    with trio.fail_after(10):
        async with mock_call({**FAST, "outcome": outcome}) as (carrier, pid, events):
            ringing, ended = await next_event(events), await next_event(events)
            await assert_quiet(events, 0.05)
            status = await carrier.get_call_status(pid)
    assert ringing.type is EventType.RINGING
    assert (ended.type, ended.reason) == (EventType.ENDED, outcome)
    assert (status.state, status.end_reason) == ("ended", outcome)


async def test_bot_hangup_reports_ended_and_cancels_pending_replies():
    with trio.fail_after(10):
        async with mock_call({**FAST, "hangupAfterMs": 60}) as (carrier, pid, events):
            await answered(events)
            await carrier.start_listening("c1", pid, "turn-1")
            await carrier.hangup("c1", pid, "hangup-bot")
            ended = await next_event(events)
            await assert_quiet(events, 0.1)  # neither the reply nor the callee's hang-up
            await carrier.hangup("c1", pid, "hangup-bot")  # already ended: nothing more
            await assert_quiet(events, 0.05)
            status = await carrier.get_call_status(pid)
    assert (ended.type, ended.reason, ended.call_id) == (EventType.ENDED, "hangup-bot", "c1")
    assert status.is_terminal


async def test_hangup_while_ringing_stops_the_callee_phone():
    with trio.fail_after(10):
        async with mock_call({**FAST, "ringDelayMs": 50}) as (carrier, pid, events):
            await carrier.hangup("c1", pid, "hangup-bot")
            ended = await next_event(events)
            await assert_quiet(events, 0.1)
    assert (ended.type, ended.reason) == (EventType.ENDED, "hangup-bot")


async def test_speech_is_recorded():
    with trio.fail_after(10):
        async with mock_call(FAST) as (carrier, pid, _events):
            await carrier.speak("c1", pid, "Hello from the bot")
            assert carrier.callee(pid).played == ["Hello from the bot"]


async def test_restarted_daemon_resumes_a_call_it_did_not_place():
    with trio.fail_after(10):
        async with webhook_events() as (url, events), open_mock_client(
                FAST, endpoints=Endpoints(url), clock_ms=clock_ms) as carrier:
            await carrier.resume("c9", "mock-c9")
            await carrier.start_listening("c9", "mock-c9", "turn-1")
            speech = await next_event(events)
            await carrier.hangup("c9", "mock-c9", "hangup-bot")
            ended = await next_event(events)
    assert (speech.call_id, speech.provider_call_id, speech.transcript) == (
        "c9", "mock-c9", "first reply")
    assert (ended.type, ended.reason) == (EventType.ENDED, "hangup-bot")


async def test_status_of_unknown_calls_follows_the_provider_id():
    async with open_mock_client({}, endpoints=Endpoints(), clock_ms=clock_ms) as carrier:
        stale = await carrier.get_call_status("mock-STALE-call")
        live = await carrier.get_call_status("mock-abc")
    assert (stale.state, stale.end_reason) == ("ended", "completed")
    assert (live.state, live.end_reason) == ("live", None)


async def test_listening_while_the_daemon_has_no_webhook_url_is_a_provider_error():
    async with open_mock_client({}, endpoints=Endpoints(), clock_ms=clock_ms) as carrier:
        with pytest.raises(ProviderError, match="no webhook URL"):
            await carrier.start_listening("c1", "mock-c1", None)


async def test_undeliverable_webhooks_are_retried_then_logged(caplog):
    caplog.set_level(logging.WARNING)
    with socket_that_refuses() as port:
        with trio.fail_after(10):
            endpoints = Endpoints(f"http://127.0.0.1:{port}/voice/webhook")
            async with open_mock_client(FAST, endpoints=endpoints, clock_ms=clock_ms) as carrier:
                await carrier.place_call(PlaceCallRequest(
                    call_id="c1", from_number="+1", to_number="+2", mode="notify"))
                while "call.answered for call c1 was not delivered" not in caplog.text:
                    await trio.sleep(0.02)
    assert "call.ringing for call c1 was not delivered (ConnectError" in caplog.text


async def test_leaving_the_context_cancels_pending_callee_actions():
    with trio.fail_after(2):
        async with webhook_events() as (url, events):
            async with open_mock_client({"ringDelayMs": 60_000}, endpoints=Endpoints(url),
                                         clock_ms=clock_ms) as c:
                await c.place_call(PlaceCallRequest(
                    call_id="c1", from_number="+1", to_number="+2", mode="notify"))
            await assert_quiet(events, 0.05)


@contextmanager
def socket_that_refuses():
    """A loopback port with nothing listening on it: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
