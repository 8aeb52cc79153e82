"""The fake Telnyx at the wire level: REST with plain httpx (Bearer auth, JSON bodies) against the
real server, webhooks received by a local server that checks every Ed25519 signature with
``cryptography`` (see :mod:`tests.simulator.telnyx_fakes`). How webhooks are delivered
(retries, duplicates, refusal and forwarding) is :mod:`tests.simulator.test_telnyx_delivery`.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.simulator.telnyx_fakes import (
    CALLEE_NUMBER,
    CONNECTION_ID,
    OUR_NUMBER,
    action,
    b64,
    dial,
    fake_telnyx,
)
from voicecall_cli.simulator.telnyx.simulator import CalleeScript

PROJECT_ROOT = Path(__file__).resolve().parents[2]


async def test_outbound_call_speaks_and_hangs_up_with_signed_webhooks() -> None:
    with trio.fail_after(5):
        async with fake_telnyx() as (sim, receiver, api):
            call_id = await dial(api, receiver, answering_machine_detection="disabled")
            await sim.wait_for_status(call_id, "answered")
            assert (await action(api, call_id, "speak", payload="Your table is ready.",
                                 voice="female", language="en-US",
                                 command_id="s1")).json() == {"data": {"result": "ok"}}
            await receiver.wait_for(lambda: "call.speak.ended" in receiver.events())
            await action(api, call_id, "hangup", command_id="h1")
            call = await sim.wait_ended(call_id)
            fetched = (await api.get(f"/calls/{call_id}")).json()["data"]

    assert receiver.events() == ["call.initiated", "call.answered", "call.speak.started",
                                 "call.speak.ended", "call.hangup"]
    assert all(r.signature_valid for r in receiver.received)
    first = receiver.received[0]
    assert first.path == "/telnyx/events"
    assert first.headers["user-agent"] == "telnyx-webhooks"
    assert first.headers["content-type"] == "application/json"
    assert first.body.startswith(b'{"data":{"record_type":"event","event_type":"call.initiated"')
    assert json.loads(first.body)["meta"] == {"attempt": 1,
                                              "delivered_to": receiver.url("/telnyx/events")}
    payload = first.payload
    assert (payload["call_control_id"], payload["connection_id"]) == (call_id, CONNECTION_ID)
    assert (payload["direction"], payload["state"]) == ("outgoing", "bridging")
    assert (payload["from"], payload["to"]) == (OUR_NUMBER, CALLEE_NUMBER)
    assert payload["client_state"] == b64("call-1") and payload["start_time"].endswith("Z")
    assert receiver.received[3].payload["status"] == "completed"
    hangup = receiver.received[-1].payload
    assert (hangup["hangup_cause"], hangup["hangup_source"]) == ("normal_clearing", "caller")
    assert hangup["state"] == "hangup" and hangup["end_time"] and "sip_hangup_cause" in hangup
    assert len({r.data["id"] for r in receiver.received}) == 5
    assert call.spoken == ["Your table is ready."] and call.hangups == 1
    assert call.status_history == ["bridging", "answered", "hangup"]
    assert call.ignored_params == {"answering_machine_detection": "disabled"}
    assert fetched["is_alive"] is False and fetched["end_time"]
    assert fetched["call_leg_id"] == payload["call_leg_id"]
    assert all("authorization" not in r.headers for r in sim.requests)
    assert sim.requests[0].get("to") == CALLEE_NUMBER


async def test_transcription_gives_the_next_reply_after_the_speech_with_a_partial_first() -> None:
    callee = CalleeScript(replies=["Seven o'clock, please."], say_seconds_per_char=0.005)
    with trio.fail_after(5):
        async with fake_telnyx(callee) as (sim, receiver, api):
            call_id = await dial(api, receiver)
            await sim.wait_for_status(call_id, "answered")
            await action(api, call_id, "speak", payload="What time suits you?")
            await action(api, call_id, "transcription_start", language="en",
                         transcription_engine="B")
            await receiver.wait_for(lambda: receiver.events().count("call.transcription") == 2)
            call = sim.calls[call_id]

    events = receiver.events()
    assert events.index("call.speak.ended") < events.index("call.transcription")
    partial_, final = [r.payload["transcription_data"] for r in receiver.received
                       if r.event_type == "call.transcription"]
    assert partial_ == {"transcript": "Seven", "is_final": False, "confidence": 0.92}
    assert final == {"transcript": "Seven o'clock, please.", "is_final": True,
                     "confidence": 0.92}
    assert call.replies == ["Seven o'clock, please."] and call.transcribing


async def test_a_repeated_command_id_is_answered_but_not_run_again() -> None:
    with trio.fail_after(5):
        async with fake_telnyx() as (sim, receiver, api):
            call_id = await dial(api, receiver)
            await sim.wait_for_status(call_id, "answered")
            first = await action(api, call_id, "speak", payload="Once.", command_id="c-1")
            again = await action(api, call_id, "speak", payload="Once.", command_id="c-1")
            await action(api, call_id, "hangup", command_id="h-1")
            await sim.wait_ended(call_id)
            retried_hangup = await action(api, call_id, "hangup", command_id="h-1")
            call = sim.calls[call_id]

    assert (first.status_code, again.status_code, retried_hangup.status_code) == (200,) * 3
    assert call.spoken == ["Once."] and call.hangups == 1
    assert [(c.action, c.command_id) for c in call.duplicate_commands] == [
        ("speak", "c-1"), ("hangup", "h-1")]
    assert receiver.events().count("call.hangup") == 1


async def test_client_state_replaces_the_calls_and_rides_on_every_later_webhook() -> None:
    with trio.fail_after(5):
        async with fake_telnyx() as (sim, receiver, api):
            call_id = await dial(api, receiver)
            await sim.wait_for_status(call_id, "answered")
            bad = await action(api, call_id, "speak", payload="x", client_state="not base64!")
            await action(api, call_id, "speak", payload="Hi.", client_state=b64("turn-2"))
            await action(api, call_id, "hangup")
            await sim.wait_ended(call_id)
            fetched = (await api.get(f"/calls/{call_id}")).json()["data"]

    assert bad.status_code == 422
    assert bad.json()["errors"][0]["source"] == {"pointer": "/client_state"}
    states = [(r.event_type, r.payload["client_state"]) for r in receiver.received]
    assert states[:2] == [("call.initiated", b64("call-1")), ("call.answered", b64("call-1"))]
    assert all(state == b64("turn-2") for _, state in states[2:]) and len(states) == 5
    assert fetched["client_state"] == b64("turn-2")


async def test_commands_on_an_ended_or_unknown_call_are_refused() -> None:
    with trio.fail_after(5):
        async with fake_telnyx() as (sim, receiver, api):
            call_id = await dial(api, receiver)
            await sim.wait_for_status(call_id, "answered")
            await action(api, call_id, "hangup")
            await sim.wait_ended(call_id)
            ended = await action(api, call_id, "speak", payload="Too late.")
            unknown = await action(api, "v3:nope", "hangup")
            unknown_get = await api.get("/calls/v3:nope")

    assert ended.status_code == 422
    assert ended.json()["errors"][0]["code"] == "90018"
    assert ended.json()["errors"][0]["title"] == "Call has already ended"
    assert (unknown.status_code, unknown.json()["errors"][0]["code"]) == (404, "10005")
    assert unknown_get.status_code == 404
    assert sim.calls[call_id].commands[-1].error == "90018"


async def test_the_api_checks_the_key_and_the_dial_body() -> None:
    def dial_body(**change: Any) -> dict[str, Any]:
        body = {"connection_id": CONNECTION_ID, "to": CALLEE_NUMBER, "from": OUR_NUMBER}
        body.update(change)
        return {k: v for k, v in body.items() if v is not None}

    with trio.fail_after(5):
        async with fake_telnyx() as (sim, _receiver, api):
            async with httpx.AsyncClient(trust_env=False) as raw:
                wrong = await raw.post(f"{sim.base_url}/v2/calls", json=dial_body(),
                                       headers={"authorization": "Bearer wrong"})
                missing = await raw.get(f"{sim.base_url}/v2/calls/v3:x")
            no_to = await api.post("/calls", json=dial_body(to=None))
            bad_from = await api.post("/calls", json=dial_body(**{"from": "5550002222"}))
            other_app = await api.post("/calls", json=dial_body(connection_id="42"))
            short = await api.post("/calls", json=dial_body(timeout_secs=3))
            bad_track = await api.post("/calls", json=dial_body(
                stream_url="ws://127.0.0.1:9/s", stream_track="sideways"))
            not_json = await api.post("/calls", content=b"{nope",
                                      headers={"content-type": "application/json"})
            sim.fail_next_request(503, {"errors": [{"code": "10007", "title": "Unexpected"}]})
            injected = await api.post("/calls", json=dial_body())

    assert wrong.status_code == 401
    assert wrong.json() == {"errors": [{
        "code": "10009", "title": "Authentication failed",
        "detail": wrong.json()["errors"][0]["detail"]}]}
    assert missing.status_code == 401
    assert (no_to.status_code, no_to.json()["errors"][0]["code"]) == (422, "10004")
    assert no_to.json()["errors"][0]["source"] == {"pointer": "/to"}
    assert (bad_from.status_code, bad_from.json()["errors"][0]["code"]) == (422, "10016")
    assert bad_from.json()["errors"][0]["source"] == {"pointer": "/from"}
    assert other_app.status_code == 422 and short.status_code == 422
    assert bad_track.json()["errors"][0]["source"] == {"pointer": "/stream_track"}
    assert not_json.status_code == 400
    assert (injected.status_code, injected.json()["errors"][0]["code"]) == (503, "10007")
    assert [r.authorized for r in sim.requests][:2] == [False, False]
    assert sim.calls == {}


async def test_inbound_call_waits_for_answer_then_streams_request_and_hangs_up() -> None:
    with trio.fail_after(5):
        async with fake_telnyx() as (sim, receiver, api):
            call_id = await sim.place_inbound(from_=CALLEE_NUMBER, to=OUR_NUMBER,
                                              webhook_url=receiver.url("/telnyx/events"))
            await receiver.wait_for(lambda: receiver.events() == ["call.initiated"])
            early = await action(api, call_id, "speak", payload="Not yet.")
            await action(api, call_id, "answer", command_id="a1", client_state=b64("in-1"),
                         stream_url="ws://127.0.0.1:9/voice/stream", stream_auth_token="tok",
                         stream_bidirectional_mode="rtp", stream_codec="PCMU",
                         stream_bidirectional_target_legs="self")
            stream = await sim.wait_for_stream(call_id)
            await action(api, call_id, "hangup")
            call = await sim.wait_ended(call_id)

    initiated = receiver.received[0].payload
    assert (initiated["direction"], initiated["state"]) == ("incoming", "parked")
    assert initiated["client_state"] is None
    assert (initiated["from"], initiated["to"]) == (CALLEE_NUMBER, OUR_NUMBER)
    assert early.status_code == 422
    assert receiver.events() == ["call.initiated", "call.answered", "call.hangup"]
    assert receiver.received[1].payload["client_state"] == b64("in-1")
    hangup = receiver.received[-1].payload
    assert (hangup["hangup_cause"], hangup["hangup_source"]) == ("normal_clearing", "callee")
    assert (stream.url, stream.token, stream.bidirectional) == (
        "ws://127.0.0.1:9/voice/stream", "tok", True)
    assert (stream.track, stream.codec, stream.bidirectional_codec) == (
        "inbound_track", "PCMU", "PCMU")
    assert call.status_history == ["parked", "answered", "hangup"]


@pytest.mark.parametrize(("how", "cause", "source"), [
    ("hangup before answer", "call_rejected", "callee"),
    ("nobody answers", "originator_cancel", "caller"),
])
async def test_an_inbound_call_not_answered(how: str, cause: str, source: str) -> None:
    with trio.fail_after(5):
        async with fake_telnyx() as (sim, receiver, api):
            call_id = await sim.place_inbound(from_=CALLEE_NUMBER, to=OUR_NUMBER,
                                              webhook_url=receiver.url(), ring_timeout_s=0.2)
            if how == "hangup before answer":
                await action(api, call_id, "hangup")
            call = await sim.wait_ended(call_id)

    assert (call.hangup_cause, call.hangup_source) == (cause, source)
    assert receiver.events() == ["call.initiated", "call.hangup"] and not call.answered


@pytest.mark.parametrize(("answer", "cause"), [
    ("busy", "user_busy"), ("no-answer", "timeout"), ("failed", "destination_out_of_order")])
async def test_callee_outcomes_end_with_telnyx_hangup_causes(answer: Any, cause: str) -> None:
    with trio.fail_after(5):
        async with fake_telnyx(CalleeScript(answer=answer)) as (sim, receiver, api):
            call_id = await dial(api, receiver)
            call = await sim.wait_ended(call_id)

    assert receiver.events() == ["call.initiated", "call.hangup"]
    assert receiver.received[-1].payload["hangup_cause"] == cause
    assert call.hangup_source == "callee" and not call.answered


async def test_the_callee_hangs_up_after_its_last_reply() -> None:
    callee = CalleeScript(replies=["Bye now."], hangup_after_replies=1, partials=False)
    with trio.fail_after(5):
        async with fake_telnyx(callee) as (sim, receiver, api):
            call_id = await dial(api, receiver)
            await sim.wait_for_status(call_id, "answered")
            await action(api, call_id, "transcription_start", language="en")
            call = await sim.wait_ended(call_id)

    assert receiver.events() == ["call.initiated", "call.answered", "call.transcription",
                                 "call.hangup"]
    assert (call.hangup_cause, call.hangup_source) == ("normal_clearing", "callee")
    assert call.hangups == 0


def test_the_command_line_simulator_prints_its_first_line() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "voicecall_cli.simulator", "telnyx", "--stdin",
                             "--stream-audio", "--reply", "Yes."], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=PROJECT_ROOT)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        first = json.loads(proc.stdout.readline())
        try:
            urllib.request.urlopen(first["baseUrl"] + "/v2/calls/v3:x", timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        proc.stdin.close()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (first["carrier"], first["displayName"], first["pid"]) == ("telnyx", "Telnyx",
                                                                       proc.pid)
    block = first["config"]["telnyx"]
    assert first["config"]["provider"] == "telnyx"
    assert block["apiBaseUrl"] == first["baseUrl"]
    assert (block["apiKey"], block["connectionId"]) == (first["apiKey"], first["connectionId"])
    assert len(base64.b64decode(block["publicKey"])) == 32 == len(
        base64.b64decode(first["publicKey"]))
    assert first["config"]["streaming"]["scriptedTranscripts"] == ["Yes."]
