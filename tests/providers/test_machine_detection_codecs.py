"""Answering-machine detection results on each carrier's wire, parsed by its codec: every
word the carrier may send maps to who answered and whether a machine's greeting is over."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.providers.plivo import util as plivo
from tests.providers.telnyx.util import request as telnyx_request
from tests.providers.twilio.test_webhooks import deliver as twilio_deliver
from tests.providers.twilio.test_webhooks import make_codec as twilio_codec
from tests.providers.twilio.util import CALL_ID, OUTBOUND_SID
from voicecall_cli.core.events import EventType
from voicecall_cli.providers.telnyx.state import TelnyxState, encode_client_state
from voicecall_cli.providers.telnyx.webhooks import TelnyxWebhookCodec


@pytest.mark.parametrize(("answered_by", "who", "greeting_over"), [
    ("human", "human", False), ("machine_start", "machine", False),
    ("machine_end_beep", "machine", True), ("machine_end_silence", "machine", True),
    ("machine_end_other", "machine", True), ("fax", "fax", False),
    ("unknown", "unknown", False), ("something_new", "unknown", False)])
def test_twilio_async_amd_callback(answered_by: str, who: str, greeting_over: bool) -> None:
    body = urlencode({"AccountSid": "AC" + "0" * 32, "CallSid": OUTBOUND_SID,
                      "AnsweredBy": answered_by, "MachineDetectionDuration": "2400"}).encode()
    reply = twilio_deliver(twilio_codec(), body, {"callId": CALL_ID, "type": "amd"})
    [event] = reply.events
    assert (event.type, event.call_id, event.provider_call_id) == (
        EventType.ANSWERED_BY, CALL_ID, OUTBOUND_SID)
    assert (event.answered_by, event.greeting_ended) == (who, greeting_over)


def _telnyx(event_type: str, result: str) -> list:
    body = json.dumps({"data": {"id": "ev-1", "event_type": event_type,
                                "occurred_at": "2026-12-01T11:00:00Z", "payload": {
                                    "call_control_id": "v3:abc", "result": result,
                                    "client_state": encode_client_state(CALL_ID)}}}).encode()
    return TelnyxWebhookCodec(None, TelnyxState()).parse(telnyx_request(body), "k", 0).events


@pytest.mark.parametrize(("result", "who"), [("human", "human"), ("machine", "machine"),
                                             ("not_sure", "unknown")])
def test_telnyx_detection_ended(result: str, who: str) -> None:
    [event] = _telnyx("call.machine.detection.ended", result)
    assert (event.type, event.call_id) == (EventType.ANSWERED_BY, CALL_ID)
    assert (event.answered_by, event.greeting_ended) == (who, False)


@pytest.mark.parametrize("result", ["beep_detected", "ended", "not_sure"])
def test_telnyx_greeting_ended(result: str) -> None:
    [event] = _telnyx("call.machine.greeting.ended", result)
    assert (event.answered_by, event.greeting_ended) == ("machine", True)


@pytest.mark.parametrize(("machine", "who"), [("true", "machine"), ("false", "human")])
def test_plivo_machine_detection_url(machine: str, who: str) -> None:
    form = plivo.call_form(event="MachineDetection",
                           extra=[("Machine", machine), ("IfMachine", "continue")])
    reply, _ = plivo.deliver(plivo.make_codec(),
                             plivo.call_url({"callId": CALL_ID, "flow": "amd"}), form)
    [event] = reply.events
    assert (event.type, event.call_id) == (EventType.ANSWERED_BY, CALL_ID)
    assert (event.answered_by, event.greeting_ended) == (who, False)


def test_plivo_waits_for_the_beep_and_reports_its_end() -> None:
    codec = plivo.make_codec()
    reply, _ = plivo.deliver(codec, plivo.call_url({"callId": CALL_ID, "flow": "xml-beep"}),
                             plivo.call_form(event="Transfer"))
    assert reply.events == []
    root = plivo.document(reply.body)
    wait, redirect = list(root)
    assert (wait.tag, wait.get("beep")) == ("Wait", "true")
    assert plivo.query_of(redirect.text or "")["flow"] == "beep-done"
    done, _ = plivo.deliver(codec, redirect.text or "", plivo.call_form(event="Redirect"))
    [event] = done.events
    assert (event.answered_by, event.greeting_ended) == ("machine", True)
