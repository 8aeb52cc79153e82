"""Plivo webhooks: verify, parse into events, answer with XML (reference 4.3, 6.5).

Plivo sends form bodies to the URLs we gave it, each carrying ``callId`` (our id, when we know
it) and ``flow`` (what the request is) in the query; the Plivo application's answer and hang-up
URLs for inbound calls are the plain webhook URL (``flow=answer``, or no flow) and
``?flow=hangup``. Every URL we hand out is built from the daemon's endpoints (the public URL),
never from a request's ``Host``.

======================  ====================================================  ===============
``flow``                events                                                XML reply
======================  ====================================================  ===============
``answer`` (or none)    ``call.answered`` (inbound: ``call.initiated`` too)    notify XML once;
                                                                              stream; hold;
                                                                              else next step
``ring``                ``call.ringing``                                      empty
``hangup``              ``call.ended`` (reason from ``CallStatus``)            empty
``xml-speak``           none                                                  the pending
                                                                              ``<Speak>``
``xml-listen``          none                                                  ``<GetInput>``
``getinput``            ``call.speech`` (``Speech``...) / ``call.dtmf``        next step
``redirect``            none (``sayDone``: a speech was heard)                next step
``hold``                none                                                  stream or hold
``stream-status``       none; StopStream/DroppedStream end the stream         empty
``recording``           ``call.recording`` (the Record API's callback)        empty
``amd``                 ``call.answered_by`` (``Machine`` true: machine,       empty
                        else human)
``xml-beep``            none                                                  wait for the
                                                                              beep
``beep-done``           ``call.answered_by`` (machine, greeting over)          next step
======================  ====================================================  ===============

"Next step" is a ``<GetInput>`` while a turn listens, else a keep-alive (wait, ask again); a
GetInput callback ends the listening turn only when it carries that turn's token. Inbound
callers hold in line: a new one waits behind those already holding, and a free stream slot
goes to the first in line (at their own ``hold`` check, or at once when the daemon transfers
them there), never to a caller further back.
Dedupe keys: status events by call and kind (``plivo:answered:<CallUUID>``: Plivo re-sends a
callback with a new nonce, which must not count twice), speech and digits by the verified
request key. Pure apart from the shared :class:`~.state.PlivoState` and the daemon's stream
registry view; the time comes in as ``now_ms``.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.providers.base import (
    Endpoints,
    StaticPage,
    Streams,
    Verification,
    WebhookReply,
    WebhookRequest,
)
from voicecall_cli.providers.bodies import form_pairs, single_values, whole_seconds
from voicecall_cli.providers.plivo import xml
from voicecall_cli.providers.plivo.media import token_for_xml
from voicecall_cli.providers.plivo.signature import (
    has_signature_headers,
    sign_v3,
    verify_plivo,
)
from voicecall_cli.providers.plivo.state import PlivoState
from voicecall_cli.providers.signatures import WebhookSecurity
from voicecall_cli.providers.urls import with_query

DEFAULT_CONFIDENCE = 0.9
# CallStatus of a hang-up callback -> end reason (reference 4.3; Plivo's own words added).
END_REASONS = {"completed": "completed", "busy": "busy", "no-answer": "no-answer",
               "failed": "failed", "timeout": "no-answer", "cancel": "hangup-bot",
               "canceled": "hangup-bot", "machine": "voicemail"}
TRANSCRIPT_FIELDS = ("Speech", "Transcription", "TranscriptionText", "SpeechResult",
                     "RecognizedSpeech", "Text")
STREAM_ENDED = frozenset({"stopstream", "droppedstream", "stopped", "failed"})
XML_HEADERS = {"content-type": "text/xml; charset=utf-8"}
_XML_FLOWS = frozenset({"xml-speak", "xml-listen", "redirect", "hold", "stream-status",
                        "xml-beep"})


@dataclass(frozen=True, slots=True)
class _Delivery:
    """One webhook's parameters, as the decisions use them."""

    form: dict[str, str]
    flow: str
    call_uuid: str
    call_id: str  # our id from the query, else the one remembered, else the CallUUID
    status: str  # CallStatus, trimmed and lower-cased
    direction: str | None  # "inbound" | "outbound" | None
    turn_token: str | None


class PlivoWebhookCodec:
    """Verify and parse Plivo webhooks (implements ``providers.base.WebhookCodec``)."""

    name = "plivo"
    static_pages: tuple[StaticPage, ...] = ()

    def __init__(self, auth_token: str, state: PlivoState, *, endpoints: Endpoints,
                 streams: Streams, security: WebhookSecurity, voice: str = xml.DEFAULT_VOICE,
                 language: str = xml.DEFAULT_LANGUAGE) -> None:
        self._auth_token = auth_token
        self._state = state
        self._endpoints = endpoints
        self._streams = streams
        self._security = security
        self._voice = voice
        self._language = language

    def has_auth_headers(self, headers: Mapping[str, str]) -> bool:
        return has_signature_headers(headers)

    def verify(self, request: WebhookRequest, now_ms: int) -> Verification:
        result = verify_plivo(request, self._auth_token, self._security,
                              public_url=self._endpoints.signed_url)
        return Verification(ok=result.ok, key=result.key, reason=result.reason, url=result.url)

    def sign_probe(self, url: str, body: bytes) -> dict[str, str] | None:
        return sign_v3(self._auth_token, url, body, secrets.token_hex(10))

    def parse(self, request: WebhookRequest, key: str, now_ms: int) -> WebhookReply:
        """Events and the XML reply for one delivery (``key`` empty: a fallback key).

        Raises ``ValueError`` when the body is not form data or names no ``CallUUID``.
        """
        if _text(request.query.get("flow")).strip().lower() == "recording":
            return _xml_reply(xml.empty(), self._recording(request, now_ms))
        delivery = _read_delivery(request, self._state)
        flow, call_uuid = delivery.flow, delivery.call_uuid
        dedupe_key = key or _fallback_key(request)
        if flow in _XML_FLOWS:
            return _xml_reply(self._xml_flow(request, delivery))
        events: list[tuple[EventType, dict[str, Any], str]]
        if flow == "hangup":
            reason = _end_reason(delivery)
            events = [(EventType.ENDED, {"reason": reason}, f"plivo:ended:{call_uuid}")]
            self._state.forget(call_uuid)
            return _reply(events, delivery, now_ms, xml.empty())
        if flow == "getinput":
            events = _input_events(delivery.form, dedupe_key)
            # Only the listening turn's own callback ends it: a late one of an older turn
            # leaves the current turn listening and gets its GetInput again as the reply.
            self._state.end_turn(call_uuid, delivery.turn_token)
            return _reply(events, delivery, now_ms, self._next_step(delivery))
        if flow == "amd":  # the machine_detection_url: who answered
            machine = delivery.form.get("Machine", "").strip().lower() == "true"
            events = [(EventType.ANSWERED_BY, {"answered_by": "machine" if machine else "human"},
                       f"plivo:amd:{call_uuid}")]
            return _reply(events, delivery, now_ms, xml.empty())
        if flow == "beep-done":  # the <Wait beep> of xml-beep is over: the greeting ended
            events = [(EventType.ANSWERED_BY, {"answered_by": "machine", "greeting_ended": True},
                       f"plivo:beep:{call_uuid}")]
            return _reply(events, delivery, now_ms, self._next_step(delivery))
        if flow == "ring":
            events = [(EventType.RINGING, {}, f"plivo:ringing:{call_uuid}")]
            return _reply(events, delivery, now_ms, xml.empty())
        if flow != "answer":  # answer, or no flow: the Plivo application's answer URL
            raise ValueError(f"unknown flow {flow!r}")
        events = [(EventType.ANSWERED, {}, f"plivo:answered:{call_uuid}")]
        if delivery.direction == "inbound":
            events.insert(0, (EventType.INITIATED, {}, f"plivo:initiated:{call_uuid}"))
        return _reply(events, delivery, now_ms, self._answer_xml(delivery))

    def _recording(self, request: WebhookRequest, now_ms: int) -> list[NormalizedEvent]:
        """The Record API's callback (form fields ``call_uuid``, ``record_url``,
        ``recording_id``, ``recording_duration``...): ``call.recording``, counted once per
        recording. Raises ``ValueError`` for a body that is not form data or names no call."""
        form = single_values(form_pairs(request.body))
        call_uuid = _text(form.get("call_uuid") or form.get("CallUUID")).strip()
        if not call_uuid:
            raise ValueError("recording callback has no call_uuid")
        url = _text(form.get("record_url")).strip()
        if not url:
            return []
        duration = whole_seconds(form.get("recording_duration"))
        if duration is None:
            millis = whole_seconds(form.get("recording_duration_ms"))
            duration = None if millis is None else round(millis / 1000)
        call_id = (_text(request.query.get("callId")).strip()
                   or self._state.call_id(call_uuid) or call_uuid)
        recording_id = _text(form.get("recording_id")).strip() or url
        return [NormalizedEvent(
            type=EventType.RECORDING, id=str(uuid.uuid4()), call_id=call_id,
            timestamp=now_ms, dedupe_key=f"plivo:recording:{recording_id}",
            provider_call_id=call_uuid, recording_url=url, recording_duration_s=duration)]

    # -- XML decisions -------------------------------------------------------------------------

    def _answer_xml(self, delivery: _Delivery) -> str:
        stored = self._state.take_notify_xml(delivery.call_id)
        if stored is not None:
            return stored
        if self._state.is_notify(delivery.call_id):
            return xml.empty()  # served before: this is a repeat, not a new start
        if self._endpoints.stream_url:
            if delivery.direction == "inbound" and (self._state.queue_ahead()
                                                    or not self._streams.admits_inbound()):
                return self._hold_xml(delivery)  # behind everyone already waiting
            return self._stream_xml(delivery)
        return self._next_step(delivery)

    def _xml_flow(self, request: WebhookRequest, delivery: _Delivery) -> str:
        flow, call_uuid = delivery.flow, delivery.call_uuid
        if flow == "xml-speak":
            speech = self._state.take_speech(call_uuid)
            if speech is None:
                return self._next_step(delivery)
            return xml.speak(speech.text, with_query(self._url(delivery), sayDone=speech.token),
                             voice=self._voice, language=self._language)
        if flow == "xml-beep":
            return xml.await_beep(self._url(delivery, "beep-done"))
        if flow == "stream-status":
            event = delivery.form.get("Event", "").strip().lower()
            if event in STREAM_ENDED:
                self._streams.end(call_uuid, delivery.form.get("StreamID") or None)
            return xml.empty()
        if flow == "hold":  # a held caller asks again, or the daemon transferred them here
            connecting = self._state.is_connecting(call_uuid)
            if connecting or (self._state.first_in_line(call_uuid)
                              and self._streams.admits_inbound()):
                self._state.unhold(call_uuid)
                return self._stream_xml(delivery, inbound=True)  # only inbound callers wait
            return self._hold_xml(delivery)
        said = request.query.get("sayDone")
        if said:
            self._state.speech_heard(said)
        return self._next_step(delivery)  # xml-listen, redirect

    def _next_step(self, delivery: _Delivery) -> str:
        listen = self._state.listen(delivery.call_uuid)
        if listen is None:
            return xml.keep_alive(self._url(delivery))
        action = self._url(delivery, "getinput")
        if listen.turn_token:
            action = with_query(action, turnToken=listen.turn_token)
        return xml.listen(action, self._url(delivery), prompt=listen.prompt, voice=self._voice,
                          language=self._language, accept=listen.accept)

    def _stream_xml(self, delivery: _Delivery, *, inbound: bool = False) -> str:
        """Stream XML; an inbound caller's slot is taken now, not when Plivo connects."""
        stream_url = self._endpoints.stream_url
        if not stream_url:
            return self._next_step(delivery)
        inbound = inbound or delivery.direction == "inbound"
        token = token_for_xml(self._streams.token(delivery.call_uuid, inbound=inbound))
        return xml.stream(stream_url, token, status_url=self._url(delivery, "stream-status"),
                          redirect_url=self._url(delivery))

    def _hold_xml(self, delivery: _Delivery) -> str:
        first = self._state.hold(delivery.call_uuid)
        return xml.hold(self._url(delivery, "hold"), first=first, voice=self._voice,
                        language=self._language)

    def _url(self, delivery: _Delivery, flow: str = "redirect") -> str:
        """The call's webhook URL for ``flow``: always the daemon's own (public) URL."""
        base = self._endpoints.webhook_url
        if not base:
            raise ValueError("the daemon's webhook URL is not known yet")
        return with_query(base, callId=delivery.call_id, flow=flow)


def _read_delivery(request: WebhookRequest, state: PlivoState) -> _Delivery:
    """The delivery's fields. Raises ``ValueError`` for a body that is not UTF-8 form data,
    repeats a field with different values (V3 sorts a name's values, so which one came last
    is not signed) or names no ``CallUUID``."""
    form = single_values(form_pairs(request.body))
    call_uuid = _text(form.get("CallUUID")).strip()
    if not call_uuid:
        raise ValueError("body has no CallUUID")
    request_uuid = _text(form.get("RequestUUID")).strip()
    if request_uuid:
        state.bind(request_uuid, call_uuid)
    query_call_id = _text(request.query.get("callId")).strip()
    call_id = query_call_id or state.call_id(call_uuid) or call_uuid
    state.remember_call(call_id, call_uuid)
    direction = _text(form.get("Direction")).strip().lower()
    return _Delivery(
        form=form, flow=_text(request.query.get("flow")).strip().lower() or "answer",
        call_uuid=call_uuid, call_id=call_id,
        status=_text(form.get("CallStatus")).strip().lower(),
        direction=direction if direction in ("inbound", "outbound") else None,
        turn_token=_text(request.query.get("turnToken")).strip() or None)


def _end_reason(delivery: _Delivery) -> str:
    reason = END_REASONS.get(delivery.status, "completed")
    if reason == "hangup-bot" and delivery.direction == "inbound":
        return "hangup-user"  # an inbound caller gave up before we answered
    return reason


def _input_events(form: dict[str, str], key: str) -> list[tuple[EventType, dict[str, Any], str]]:
    transcript = next((form[f].strip() for f in TRANSCRIPT_FIELDS if form.get(f, "").strip()),
                      "")
    if transcript:
        return [(EventType.SPEECH, {"transcript": transcript, "is_final": True,
                                    "confidence": _confidence(form)}, key)]
    digits = form.get("Digits", "").strip()
    # GetInput's keys: the whole answer (up to "#" or the digit-end pause), as Speech is
    return [(EventType.DTMF, {"digits": digits, "keys_complete": True}, key)] if digits else []


def _reply(events: list[tuple[EventType, dict[str, Any], str]], delivery: _Delivery,
           now_ms: int, document: str) -> WebhookReply:
    normalised = [
        NormalizedEvent(
            type=event_type, id=str(uuid.uuid4()), call_id=delivery.call_id, timestamp=now_ms,
            dedupe_key=dedupe_key, provider_call_id=delivery.call_uuid,
            turn_token=delivery.turn_token, direction=delivery.direction,
            from_number=_e164(delivery.form.get("From")),
            to_number=_e164(delivery.form.get("To")), **fields)
        for event_type, fields, dedupe_key in events]
    return WebhookReply(events=normalised, body=document.encode(), headers=dict(XML_HEADERS))


def _xml_reply(document: str, events: list[NormalizedEvent] | None = None) -> WebhookReply:
    return WebhookReply(events=events or [], body=document.encode(),
                        headers=dict(XML_HEADERS))


def _e164(number: str | None) -> str | None:
    """Plivo writes numbers without the ``+`` (``14155550100``); ours are E.164. SIP URIs
    and anything else are kept as they are."""
    value = (number or "").strip()
    if not value:
        return None
    return "+" + value if value.isascii() and value.isdigit() else value


def _confidence(form: dict[str, str]) -> float:
    for name in ("SpeechConfidenceScore", "Confidence"):
        try:
            value = float(form.get(name) or "")
        except ValueError:
            continue
        if math.isfinite(value):
            return value
    return DEFAULT_CONFIDENCE


def _text(value: object) -> str:
    """A form or query value, or "" for anything else."""
    return value if isinstance(value, str) else ""


def _fallback_key(request: WebhookRequest) -> str:
    """The dedupe key of a delivery that has no verified request key (verification off)."""
    material = f"{request.method}\n{request.url}\n".encode("utf-8", "surrogatepass")
    return "plivo:fallback:" + hashlib.sha256(material + request.body).hexdigest()
