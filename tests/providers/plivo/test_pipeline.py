"""The Plivo codec inside the daemon's real webhook server (``serve_webhooks``, hence
``WebhookPipeline``) on 127.0.0.1: a replayed delivery gets the first reply again and no second
events; what the codec refuses becomes the right status code.

Plivo signs the public URL it was given; the requests reach our loopback server (as through a
tunnel), signed with the plivo SDK.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import httpx
import trio

from tests.providers.plivo.util import (
    CALL_ID,
    CALL_UUID,
    NOW_MS,
    REQUEST_UUID,
    WEBHOOK,
    call_form,
    call_url,
    document,
    encode,
    make_codec,
    shape,
    v3_headers,
)
from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.daemon.web.server import serve_webhooks
from voicecall_cli.providers.plivo import xml
from voicecall_cli.providers.plivo.state import PlivoState
from voicecall_cli.providers.replay import ReplayCache

PATH = "/voice/webhook"
NOTIFY = xml.notify("Your parcel arrives at noon.")


@asynccontextmanager
async def server(state: PlivoState) -> AsyncIterator[tuple[str, list[list[NormalizedEvent]]]]:
    """The webhook server for Plivo; yields its local base URL and the delivered events."""
    deliveries: list[list[NormalizedEvent]] = []
    async with trio.open_nursery() as nursery:
        info = await nursery.start(partial(
            serve_webhooks, bind="127.0.0.1", port=0, path=PATH, codec=make_codec(state),
            on_events=deliveries.append, replay=ReplayCache(), clock_ms=lambda: NOW_MS))
        yield f"http://127.0.0.1:{info.port}", deliveries
        nursery.cancel_scope.cancel()


async def post(client: httpx.AsyncClient, local: str, query: dict[str, str],
               pairs: list[tuple[str, str]], *, nonce: str = "11111111111111111111",
               headers: dict[str, str] | None = None) -> httpx.Response:
    """Plivo's POST to the public ``WEBHOOK?query``, arriving at our ``local`` server."""
    public = call_url(query)
    signed = v3_headers(public, pairs, nonce=nonce) if headers is None else headers
    return await client.post(local + public.removeprefix(WEBHOOK.removesuffix(PATH)),
                             content=encode(pairs),
                             headers={"content-type": "application/x-www-form-urlencoded",
                                      **signed})


def notify_call() -> PlivoState:
    state = PlivoState()
    state.placed(CALL_ID, REQUEST_UUID)
    state.store_notify_xml(CALL_ID, NOTIFY)
    return state


ANSWER = {"callId": CALL_ID, "flow": "answer"}


async def test_a_replayed_answer_gets_the_same_xml_and_its_events_once() -> None:
    state = notify_call()
    form = call_form(event="StartApp")
    with trio.fail_after(10):
        async with server(state) as (local, deliveries), httpx.AsyncClient() as client:
            first = await post(client, local, ANSWER, form)
            replay = await post(client, local, ANSWER, form)  # the very same delivery
            assert state.take_notify_xml(CALL_ID) is None  # served once, not kept for later
            resent = await post(client, local, ANSWER, form, nonce="22222222222222222222")
    assert (first.status_code, replay.status_code, resent.status_code) == (200, 200, 200)
    assert first.headers["content-type"] == "text/xml; charset=utf-8"
    assert first.text == replay.text == NOTIFY
    # Plivo re-sent it with a new nonce: a new request, but the notify XML is not served
    # twice, and its event carries the same dedupe key for the call manager to drop.
    assert shape(document(resent.content)) == ("Response", {}, None, [])
    assert [[e.type for e in d] for d in deliveries] == [[EventType.ANSWERED]] * 2
    assert deliveries[0][0].dedupe_key == deliveries[1][0].dedupe_key
    assert deliveries[0][0].call_id == CALL_ID
    assert deliveries[0][0].provider_call_id == CALL_UUID


async def test_a_replayed_utterance_is_one_speech_event() -> None:
    query = {"callId": CALL_ID, "flow": "getinput", "turnToken": "turn-1"}
    form = call_form(extra=[("InputType", "speech"), ("Speech", "Yes, Tuesday.")])
    with trio.fail_after(10):
        async with server(PlivoState()) as (local, deliveries), httpx.AsyncClient() as client:
            replies = [await post(client, local, query, form) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert replies[0].text == replies[1].text == replies[2].text
    [[speech]] = deliveries
    assert (speech.type, speech.transcript, speech.turn_token) == (EventType.SPEECH,
                                                                   "Yes, Tuesday.", "turn-1")


async def test_what_the_codec_refuses_gets_the_right_status() -> None:
    form = call_form(event="StartApp")
    with trio.fail_after(10):
        async with server(PlivoState()) as (local, deliveries), httpx.AsyncClient() as client:
            unknown_flow = await post(client, local, {"callId": CALL_ID, "flow": "conference"},
                                      form)
            no_call = await post(client, local, ANSWER, [p for p in form if p[0] != "CallUUID"])
            unsigned = await post(client, local, ANSWER, form, headers={})
            forged = await post(client, local, ANSWER, form,
                                headers=v3_headers(call_url(ANSWER), form, token="guess"))
            signed_for_form = v3_headers(call_url(ANSWER), form)
            not_form = await client.post(local + PATH + "?callId=" + CALL_ID + "&flow=answer",
                                         content=b'{"CallUUID": "x"}',
                                         headers={"content-type": "application/json",
                                                  **signed_for_form})
            get = await client.get(local + PATH, headers=signed_for_form)
    assert (unknown_flow.status_code, unknown_flow.text) == (400, "Bad Request")
    assert (no_call.status_code, no_call.text) == (400, "Bad Request")
    assert (unsigned.status_code, forged.status_code, not_form.status_code) == (401, 401, 401)
    assert get.status_code == 405
    assert deliveries == []


async def test_a_hang_up_through_the_server_forgets_the_call() -> None:
    state = notify_call()
    state.bind(REQUEST_UUID, CALL_UUID)
    with trio.fail_after(10):
        async with server(state) as (local, deliveries), httpx.AsyncClient() as client:
            reply = await post(client, local, {"callId": CALL_ID, "flow": "hangup"},
                               call_form(event="Hangup", status="busy"))
    assert reply.status_code == 200
    [[ended]] = deliveries
    assert (ended.type, ended.reason, ended.call_id) == (EventType.ENDED, "busy", CALL_ID)
    assert state.call_id(CALL_UUID) is None and not state.is_notify(CALL_ID)
