"""The fake Plivo at the wire level: REST with plain httpx (Basic auth, JSON or form bodies)
against the real server, and an app server that serves scripted XML and checks every request's
V3 and V2 signatures with the plivo SDK (see :mod:`tests.simulator.plivo_fakes`). The XML rules
are :mod:`tests.simulator.test_plivo_xml`'s, the audio streams
:mod:`tests.simulator.test_plivo_media`'s.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
from plivo.utils import validate_signature
from plivo.utils.signature_v3 import validate_v3_signature

from tests.simulator.plivo_fakes import (
    AUTH_ID,
    AUTH_TOKEN,
    CALLEE_NUMBER,
    KEEP_ALIVE,
    OUR_NUMBER,
    PlivoReceived,
    answered_call,
    dial,
    fake_plivo,
)
from voicecall_cli.simulator.plivo import SIMULATOR
from voicecall_cli.simulator.plivo.simulator import CalleeScript
from voicecall_cli.simulator.plivo.webhooks import WebhookSigner, with_query

COMMON = {"CallUUID", "From", "To", "Direction", "CallStatus", "Event", "RequestUUID",
          "ALegUUID", "ALegRequestUUID", "CallerName", "SessionStart"}


def speak(*texts: str) -> str:
    return "<Response>" + "".join(f"<Speak>{t}</Speak>" for t in texts) + "</Response>"


async def test_outbound_call_rings_answers_runs_its_xml_and_hangs_up_signed() -> None:
    with trio.fail_after(5):
        async with fake_plivo({"/answer": speak("Your table is ready.")}) as (sim, app, api):
            request_uuid = await dial(api, app, caller_name="Bistro")
            call = await sim.wait_ended(request_uuid)
            record = await api.get(f"/Call/{call.call_uuid}/")
            live = await api.get(f"/Call/{call.call_uuid}/", params={"status": "live"})

    assert [(r.path, r.event) for r in app.received] == [
        ("/ring", "Ring"), ("/answer", "StartApp"), ("/hangup", "Hangup")]
    assert all(r.signature_valid and r.method == "POST" for r in app.received)
    assert len({r.headers["x-plivo-signature-v3-nonce"] for r in app.received}) == 3
    ring, answer, hangup = (r.params for r in app.received)
    assert set(ring) >= COMMON and set(answer) >= COMMON
    assert (ring["CallStatus"], answer["CallStatus"]) == ("ringing", "in-progress")
    assert (ring["From"], ring["To"], ring["Direction"]) == (OUR_NUMBER, CALLEE_NUMBER,
                                                             "outbound")
    assert ring["RequestUUID"] == ring["ALegRequestUUID"] == request_uuid
    assert ring["CallUUID"] == ring["ALegUUID"] == call.call_uuid != request_uuid
    assert ring["CallerName"] == "Bistro"
    assert hangup["CallStatus"] == "completed"
    assert (hangup["HangupCause"], hangup["HangupCauseName"], hangup["HangupCauseCode"],
            hangup["HangupSource"]) == ("NORMAL_CLEARING", "End Of XML Instructions", "4010",
                                        "Plivo")
    assert all(hangup[k] for k in ("StartTime", "AnswerTime", "EndTime"))
    assert (hangup["Duration"], hangup["BillDuration"]) == ("0", "0")
    assert call.spoken == ["Your table is ready."]
    assert call.status_history == ["queued", "ringing", "in-progress", "completed"]
    assert [d.kind for d in call.webhooks] == ["ring", "answer", "hangup"]
    assert call.webhooks[1].headers["content-type"] == "application/x-www-form-urlencoded"
    assert record.status_code == 200
    detail = record.json()
    assert (detail["call_uuid"], detail["call_direction"], detail["call_state"],
            detail["call_status"]) == (call.call_uuid, "outbound", "ANSWER", "completed")
    assert (detail["from_number"], detail["to_number"]) == (OUR_NUMBER, CALLEE_NUMBER)
    assert (detail["hangup_cause_name"], detail["hangup_source"]) == (
        "End Of XML Instructions", "Plivo")
    assert detail["end_time"].endswith("+00:00") and detail["api_id"]
    assert live.status_code == 404
    assert sim.requests[0].get("to") == CALLEE_NUMBER
    assert all("authorization" not in r.headers for r in sim.requests)


async def test_a_live_call_is_found_live_then_hung_up_by_the_api() -> None:
    # It rings 2 s after the dial (not the default 20 ms), so the lookup right after the dial
    # still finds it queued on a loaded machine.
    with trio.fail_after(30):
        async with fake_plivo({"/answer": KEEP_ALIVE},
                              callee=CalleeScript(ring_delay_s=2.0)) as (sim, app, api):
            request_uuid = await dial(api, app)
            queued = await api.get(f"/Call/{request_uuid}/", params={"status": "queued"})
            call_uuid = await answered_call_uuid(sim, request_uuid)
            live = await api.get(f"/Call/{call_uuid}/", params={"status": "live"})
            no_record_yet = await api.get(f"/Call/{call_uuid}/")
            by_request = await api.get(f"/Call/{request_uuid}/", params={"status": "live"})
            hung_up = await api.delete(f"/Call/{call_uuid}/")
            call = await sim.wait_ended(call_uuid)
            again = await api.delete(f"/Call/{call_uuid}/")
            cancel_late = await api.delete(f"/Request/{request_uuid}/")
            record = (await api.get(f"/Call/{call_uuid}/")).json()

    assert queued.status_code == 200 and queued.json()["call_status"] == "queued"
    assert live.status_code == 200
    data = live.json()
    assert (data["call_uuid"], data["call_status"], data["direction"], data["from"],
            data["to"], data["request_uuid"]) == (call_uuid, "in-progress", "outbound",
                                                  OUR_NUMBER, CALLEE_NUMBER, request_uuid)
    assert data["api_id"] and data["session_start"] and data["caller_name"]
    assert no_record_yet.status_code == 404 and by_request.status_code == 404
    assert (hung_up.status_code, hung_up.content) == (204, b"")
    assert again.status_code == 404 and set(again.json()) == {"api_id", "error"}
    assert cancel_late.status_code == 404
    assert call.hangups == 1
    hangup = app.on("/hangup")[0].params
    assert (hangup["CallStatus"], hangup["HangupSource"], hangup["HangupCauseName"]) == (
        "completed", "API Request", "Normal Hangup")
    assert (record["call_state"], record["hangup_source"]) == ("ANSWER", "API Request")


async def answered_call_uuid(sim: Any, request_uuid: str) -> str:
    return (await sim.wait_for_status(request_uuid, "in-progress")).call_uuid


@pytest.mark.parametrize("how", ["cancel while queued", "cancel while ringing",
                                 "hang up while ringing"])
async def test_a_call_not_answered_yet_is_cancelled(how: str) -> None:
    callee = CalleeScript(ring_delay_s=0.5 if how == "cancel while queued" else 0.0,
                          answer_delay_s=5)
    with trio.fail_after(5):
        async with fake_plivo(callee=callee) as (sim, app, api):
            request_uuid = await dial(api, app)
            call = sim.find_call(request_uuid)
            assert call is not None
            if how != "cancel while queued":
                await sim.wait_for_status(request_uuid, "ringing")
            if how == "hang up while ringing":
                response = await api.delete(f"/Call/{call.call_uuid}/")
            else:
                response = await api.delete(f"/Request/{request_uuid}/")
            await sim.wait_ended(request_uuid)

    assert response.status_code == 204
    hangup = app.on("/hangup")[0].params
    assert (hangup["CallStatus"], hangup["HangupCause"], hangup["HangupCauseName"],
            hangup["HangupSource"]) == ("cancel", "ORIGINATOR_CANCEL", "Canceled",
                                        "API Request")
    expected = ["Hangup"] if how == "cancel while queued" else ["Ring", "Hangup"]
    assert app.events() == expected
    assert call.hangups == 1 and not call.answered


async def test_the_api_refuses_what_plivo_refuses() -> None:
    async def post(api: httpx.AsyncClient, **change: Any) -> httpx.Response:
        body = {"from": OUR_NUMBER, "to": CALLEE_NUMBER, "answer_url": "http://127.0.0.1:9/a"}
        body.update(change)
        return await api.post("/Call/", json={k: v for k, v in body.items() if v is not None})

    with trio.fail_after(5):
        async with fake_plivo() as (sim, _app, api):
            refused = {
                "no answer_url": await post(api, answer_url=None),
                "ftp answer_url": await post(api, answer_url="ftp://example.com/a"),
                "no to": await post(api, to=None),
                "to is a word": await post(api, to="callee"),
                "from is to": await post(api, **{"from": "+" + CALLEE_NUMBER}),
                "ring_timeout word": await post(api, ring_timeout="soon"),
                "ring_timeout negative": await post(api, ring_timeout=-1),
                "answer_method PUT": await post(api, answer_method="PUT"),
                "hangup_url relative": await post(api, hangup_url="/hangup"),
                "not JSON": await api.post("/Call/", content=b"{nope",
                                           headers={"content-type": "application/json"}),
                "a JSON list": await api.post("/Call/", json=[1]),
            }
            accepted = [await post(api, ring_timeout="45", time_limit=600),
                        await api.post("/Call/", data={"from": OUR_NUMBER, "to": CALLEE_NUMBER,
                                                       "answer_url": "http://127.0.0.1:9/a"})]
            async with httpx.AsyncClient(base_url=sim.base_url, trust_env=False) as raw:
                unauthorized = [
                    await raw.post(f"/v1/Account/{AUTH_ID}/Call/", json={}),
                    await raw.post(f"/v1/Account/{AUTH_ID}/Call/", json={},
                                   auth=(AUTH_ID, "wrong")),
                    await raw.get("/v1/Account/MAOTHERACCOUNT0000000/Call/x/",
                                  auth=(AUTH_ID, AUTH_TOKEN)),
                ]
            unknown = [await api.get("/Call/no-such-call/"), await api.delete("/Call/nope/"),
                       await api.delete("/Request/nope/"), await api.get("/Recording/")]
            sim.fail_next_request(500, {"api_id": "x", "error": "internal error"})
            injected = await post(api)

    for label, response in refused.items():
        assert response.status_code == 400, label
        assert set(response.json()) == {"api_id", "error"}, label
    assert "src and destination cannot overlap" in refused["from is to"].json()["error"]
    assert [r.status_code for r in accepted] == [201, 201]
    assert [r.status_code for r in unauthorized] == [401, 401, 401]
    assert [r.status_code for r in unknown] == [404, 404, 404, 404]
    assert injected.status_code == 500
    assert sim.requests[-1].status == 500
    assert len(sim.calls) == 2


async def test_a_transfer_cuts_a_wait_short_and_runs_the_new_document() -> None:
    routes = {"/answer": '<Response><Wait length="1000"/></Response>',
              "/transfer": speak("You were moved.")}
    with trio.fail_after(5):
        async with fake_plivo(routes) as (sim, app, api):
            call_uuid = await answered_call(sim, api, app)
            await app.wait_for(lambda: bool(app.on("/answer")))
            refusals = [
                await api.post(f"/Call/{call_uuid}/", json={"aleg_url": app.url("/transfer")}),
                await api.post(f"/Call/{call_uuid}/", json={"legs": "cleg"}),
                await api.post(f"/Call/{call_uuid}/", json={"legs": "aleg"}),
                await api.post(f"/Call/{call_uuid}/", json={
                    "legs": "aleg", "aleg_url": app.url("/transfer"), "aleg_method": "PATCH"}),
            ]
            unknown = await api.post("/Call/nope/", json={"legs": "aleg",
                                                          "aleg_url": app.url("/transfer")})
            moved = await api.post(f"/Call/{call_uuid}/", json={
                "legs": "aleg", "aleg_url": app.url("/transfer"), "aleg_method": "POST"})
            call = await sim.wait_ended(call_uuid)

    assert [r.status_code for r in refusals] == [400] * 4
    assert unknown.status_code == 404
    assert moved.status_code == 202 and moved.json()["message"] == "call transferred"
    assert app.events() == ["Ring", "StartApp", "Transfer", "Hangup"]
    transfer = app.on("/transfer")[0].params
    assert (transfer["CallStatus"], transfer["CallUUID"]) == ("in-progress", call_uuid)
    assert call.transfers == [app.url("/transfer")] and call.spoken == ["You were moved."]
    assert app.on("/hangup")[0].params["HangupCauseName"] == "End Of XML Instructions"


async def test_a_ringing_call_cannot_be_transferred() -> None:
    with trio.fail_after(5):
        async with fake_plivo(callee=CalleeScript(answer_delay_s=5)) as (sim, app, api):
            request_uuid = await dial(api, app)
            call = await sim.wait_for_status(request_uuid, "ringing")
            response = await api.post(f"/Call/{call.call_uuid}/", json={
                "legs": "aleg", "aleg_url": app.url("/transfer")})
    assert response.status_code == 400
    assert response.json()["error"] == "call is not answered"


@pytest.mark.parametrize("redirect", [True, False])
async def test_get_input_hears_the_callees_reply(redirect: bool) -> None:
    flag = "true" if redirect else "false"
    routes = {"/answer": f'<Response><GetInput action="{{action}}" inputType="speech" '
                         f'redirect="{flag}" executionTimeout="60"><Speak>What time suits you?'
                         '</Speak></GetInput><Speak>Then goodbye.</Speak></Response>',
              "/action": speak("Booked for seven.")}
    callee = CalleeScript(replies=["Seven, please."], confidence=0.87)
    with trio.fail_after(5):
        async with fake_plivo(callee=callee) as (sim, app, api):
            app.routes["/answer"] = routes["/answer"].replace("{action}", app.url("/action"))
            app.routes["/action"] = routes["/action"]
            call_uuid = await answered_call(sim, api, app)
            call = await sim.wait_ended(call_uuid)
            await app.wait_for(lambda: bool(app.on("/action")))

    action = app.on("/action")[0].params
    assert (action["InputType"], action["Speech"], action["SpeechConfidenceScore"],
            action["Digits"], action["Event"]) == ("speech", "Seven, please.", "0.87", "",
                                                   "GetInput")
    assert set(action) >= COMMON and action["CallStatus"] == "in-progress"
    assert call.replies == ["Seven, please."] and call.get_inputs == [app.url("/action")]
    if redirect:
        assert call.spoken == ["What time suits you?", "Booked for seven."]
        assert [d.kind for d in call.webhooks][:3] == ["ring", "answer", "action"]
    else:  # a notification: the document goes on
        assert call.spoken == ["What time suits you?", "Then goodbye."]
        assert len(call.documents) == 1


async def test_get_input_without_input_times_out_to_the_next_element() -> None:
    answer = ('<Response><GetInput action="{a}" inputType="dtmf speech" executionTimeout="5">'
              '<Speak>Anyone there?</Speak></GetInput><GetInput action="{a}" inputType="dtmf" '
              'executionTimeout="5"/><Speak>Nobody.</Speak></Response>')
    with trio.fail_after(5):
        async with fake_plivo(callee=CalleeScript(replies=[])) as (sim, app, api):
            app.routes["/answer"] = answer.replace("{a}", app.url("/action"))
            call = await sim.wait_ended(await answered_call(sim, api, app))
    assert app.on("/action") == []
    assert call.spoken == ["Anyone there?", "Nobody."] and len(call.get_inputs) == 2


async def test_speech_is_not_heard_by_a_dtmf_get_input_but_digits_are() -> None:
    answer = ('<Response><GetInput action="{a}" inputType="dtmf" executionTimeout="60" '
              'finishOnKey="#"><Speak>Press your code.</Speak></GetInput></Response>')
    with trio.fail_after(5):
        async with fake_plivo(callee=CalleeScript(replies=["Hello?"])) as (sim, app, api):
            app.routes["/answer"] = answer.replace("{a}", app.url("/action"))
            call_uuid = await answered_call(sim, api, app)
            await sim.wait_for(lambda: bool(sim.calls[call_uuid].get_inputs))
            await trio.sleep(0.1)  # longer than the reply delay: the speech went unheard
            sim.press(call_uuid, "42#9")
            call = await sim.wait_ended(call_uuid)
    action = app.on("/action")[0].params
    assert (action["InputType"], action["Digits"], action["Speech"]) == ("dtmf", "42", "")
    assert call.replies == [] and call.digits == ["42"]


async def test_redirect_fetches_with_get_signed_over_the_query() -> None:
    routes = {"/answer": lambda r: (f'<Response><Speak>One.</Speak><Redirect method="GET">'
                                    f'{r.url.split("/answer")[0]}/next?step=2&amp;x=y'
                                    '</Redirect><Speak>Skipped.</Speak></Response>'),
              "/next": speak("Two.")}
    with trio.fail_after(5):
        async with fake_plivo(routes) as (sim, app, api):
            call = await sim.wait_ended(await answered_call(sim, api, app, answer_method="GET"))

    answer, redirected = app.on("/answer")[0], app.on("/next")[0]
    assert answer.method == redirected.method == "GET"
    assert answer.signature_valid and redirected.signature_valid
    assert answer.params["Event"] == "StartApp"
    assert (redirected.params["Event"], redirected.params["step"], redirected.params["x"]) == (
        "Redirect", "2", "y")
    assert call.webhooks[1].body == b"" and "Event=StartApp" in call.webhooks[1].request_url
    assert call.spoken == ["One.", "Two."] and call.redirects == [app.url("/next?step=2&x=y")]


async def test_hangup_ends_the_call_from_the_xml_and_schedule_ends_it_later() -> None:
    routes = {"/answer": '<Response><Speak>Bye.</Speak><Hangup/><Speak>Never.</Speak>'
                         '</Response>'}
    with trio.fail_after(5):
        async with fake_plivo(routes) as (sim, app, api):
            first = await sim.wait_ended(await answered_call(sim, api, app))
            app.routes["/answer"] = ('<Response><Hangup schedule="10"/><Speak>Soon.</Speak>'
                                     '<Wait length="1000"/></Response>')
            second = await sim.wait_ended(await answered_call(sim, api, app))

    assert first.spoken == ["Bye."] and first.cause is not None and second.cause is not None
    assert (first.cause.name, first.cause.code, first.hangup_source) == (
        "Normal Hangup", 4000, "Answer XML")
    assert second.spoken == ["Soon."] and second.cause.name == "Scheduled Hangup"


async def test_an_unreachable_answer_url_is_retried_then_the_fallback_is_used() -> None:
    routes = {"/fallback": speak("From the fallback.")}
    with trio.fail_after(5):
        async with fake_plivo(routes) as (sim, app, api):
            app.status = lambda r: 503 if r.path == "/answer" else 200
            with_fallback = await sim.wait_ended(await answered_call(
                sim, api, app, fallback_url=app.url("/fallback")))
            without = await sim.wait_ended(await answered_call(sim, api, app))

    assert [d.kind for d in with_fallback.webhooks] == [
        "ring", "answer", "answer", "answer", "fallback", "hangup"]
    assert with_fallback.spoken == ["From the fallback."]
    assert without.spoken == [] and without.cause is not None
    assert (without.cause.name, without.cause.code, without.hangup_source) == (
        "Error Reaching Answer URL", 7011, "Error")
    assert without.webhooks[-1].params["HangupCauseName"] == "Error Reaching Answer URL"


async def test_an_inbound_call_fetches_the_applications_answer_url() -> None:
    with trio.fail_after(5):
        async with fake_plivo({"/answer": KEEP_ALIVE}) as (sim, app, _api):
            call_uuid = await sim.place_inbound(from_="+14155550123", to=OUR_NUMBER)
            await app.wait_for(lambda: bool(app.on("/answer")))
            sim.hang_up(call_uuid)
            call = await sim.wait_ended(call_uuid)
            app.routes["/answer"] = '<Response><Hangup reason="busy"/></Response>'
            rejected = await sim.wait_ended(await sim.place_inbound(from_="14155550124",
                                                                    to=OUR_NUMBER))

    answer = app.on("/answer")[0].params
    assert (answer["Direction"], answer["CallStatus"], answer["Event"]) == (
        "inbound", "in-progress", "StartApp")
    assert (answer["From"], answer["To"]) == ("14155550123", OUR_NUMBER)
    assert not {"RequestUUID", "ALegUUID", "ALegRequestUUID"} & set(answer)
    assert call.request_uuid is None and call.status == "completed"
    hangup = app.on("/hangup")[0].params
    assert (hangup["HangupSource"], hangup["HangupCauseName"]) == ("Caller", "Normal Hangup")
    assert (rejected.status, rejected.hangup_source, rejected.duration_s) == (
        "busy", "Answer XML", 0)
    assert app.on("/hangup")[1].params["HangupCause"] == "USER_BUSY"


@pytest.mark.parametrize(("answer", "status", "cause"), [
    ("busy", "busy", "USER_BUSY"), ("no-answer", "no-answer", "NO_ANSWER"),
    ("failed", "failed", "DESTINATION_OUT_OF_ORDER")])
async def test_callee_outcomes_end_the_call_unanswered(answer: Any, status: str,
                                                       cause: str) -> None:
    with trio.fail_after(5):
        async with fake_plivo(callee=CalleeScript(answer=answer)) as (sim, app, api):
            call = await sim.wait_ended(await dial(api, app))
    assert app.events() == ["Ring", "Hangup"]
    hangup = app.on("/hangup")[0].params
    assert (hangup["CallStatus"], hangup["HangupCause"]) == (status, cause)
    assert not call.answered and hangup["AnswerTime"] == ""


async def test_a_callee_slower_than_the_ring_timeout_times_out() -> None:
    with trio.fail_after(5):
        async with fake_plivo(callee=CalleeScript(answer_delay_s=5)) as (sim, app, api):
            call = await sim.wait_ended(await dial(api, app, ring_timeout=0))
    assert call.status == "timeout" and call.cause is not None
    assert call.cause.name == "Ring Timeout Reached"


async def test_the_callee_hangs_up_after_the_last_reply_and_end_on_carrier_is_silent() -> None:
    answer = ('<Response><GetInput action="{a}" inputType="speech" redirect="false">'
              '</GetInput><Wait length="1000"/></Response>')
    callee = CalleeScript(replies=["Bye now."], hangup_after_replies=1)
    with trio.fail_after(5):
        async with fake_plivo({"/answer": KEEP_ALIVE}, callee=callee) as (sim, app, api):
            app.routes["/answer"] = answer.replace("{a}", app.url("/action"))
            first = await sim.wait_ended(await answered_call(sim, api, app))
            app.routes["/answer"] = KEEP_ALIVE
            second_uuid = await answered_call(sim, api, app)
            sim.end_on_carrier(second_uuid)
            second = await sim.wait_ended(second_uuid)
            record = await api.get(f"/Call/{second_uuid}/")

    assert first.replies == ["Bye now."] and first.hangup_source == "Callee"
    assert first.events[-1] == "Hangup"
    assert second.ended_on_carrier and "Hangup" not in second.events
    assert record.status_code == 200 and record.json()["call_status"] == "completed"


async def test_the_spec_serves_in_process_and_reports_the_daemon_config() -> None:
    args = SIMULATOR.parse(["--port", "0", "--stream-audio", "--reply", "Yes.",
                            "--auth-id", AUTH_ID, "--auth-token", AUTH_TOKEN])
    with trio.fail_after(5):
        async with (SIMULATOR.serve(args) as started,
                    httpx.AsyncClient(base_url=started.base_url, trust_env=False) as client):
            anonymous = await client.get(f"/v1/Account/{AUTH_ID}/Call/x/")
            signed_in = await client.get(f"/v1/Account/{AUTH_ID}/Call/x/",
                                         auth=(AUTH_ID, AUTH_TOKEN))
        fresh_args = SIMULATOR.parse([])
        async with SIMULATOR.serve(fresh_args) as fresh:
            pass

    first = started.first_line(SIMULATOR, 1234)
    assert (first["carrier"], first["displayName"], first["pid"]) == ("plivo", "Plivo", 1234)
    assert first["config"]["provider"] == "plivo"
    assert first["config"]["plivo"] == {"authId": AUTH_ID, "authToken": AUTH_TOKEN,
                                        "apiBaseUrl": started.base_url}
    assert first["config"]["streaming"]["scriptedTranscripts"] == ["Yes."]
    assert (anonymous.status_code, signed_in.status_code) == (401, 404)
    auth_id = fresh.details["authId"]
    assert auth_id.startswith("MA") and len(auth_id) == 20 and auth_id.isalnum()
    assert len(fresh.details["authToken"]) == 40 and "streaming" not in fresh.config


def test_received_requests_are_plain_records() -> None:
    received = PlivoReceived("POST", "http://h/a", "/a", {"Event": "Hangup"}, {}, True, True)
    assert received.signature_valid and received.event == "Hangup"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_the_signatures_are_the_ones_the_sdk_validates(method: str) -> None:
    url = "https://voice.example.com/plivo/webhook?callId=c1&flow=getinput"
    speech = "Un café, s'il vous plaît" if method == "POST" else "Seven please"
    params = {"CallUUID": "u1", "Speech": speech, "From": OUR_NUMBER, "Digits": ""}
    headers = WebhookSigner(AUTH_TOKEN).headers(url, method, params)
    seen = with_query(url, params) if method == "GET" else url
    assert validate_v3_signature(method, seen, headers["x-plivo-signature-v3-nonce"],
                                 AUTH_TOKEN, headers["x-plivo-signature-v3"],
                                 dict(params) if method == "POST" else None)
    assert validate_signature(seen, headers["x-plivo-signature-v2-nonce"],
                              headers["x-plivo-signature-v2"], AUTH_TOKEN)
    assert not validate_v3_signature(method, seen, headers["x-plivo-signature-v3-nonce"],
                                     "another-token", headers["x-plivo-signature-v3"],
                                     dict(params) if method == "POST" else None)
    assert headers["x-plivo-signature-v3-nonce"] != headers["x-plivo-signature-v2-nonce"]
