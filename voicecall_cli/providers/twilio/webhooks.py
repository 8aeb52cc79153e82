"""Twilio voice webhooks: verify, parse into events, answer with TwiML (reference 4.1, 6.3).

Twilio POSTs form-encoded parameters (``CallSid``, ``CallStatus``, ``Direction``, ``From``,
``To``, ...; ``SpeechResult``/``Confidence`` from a speech ``<Gather>``, ``Digits`` from a DTMF
one) to the URLs we gave it: the call's ``Url`` and TwiML redirects (``?callId=<our id>``), its
``StatusCallback`` (``?callId=...&type=status``), Gather actions (``&turnToken=...``), and the
phone number's voice URL for inbound calls (no query).

:class:`TwilioWebhookCodec` is pure apart from the shared :class:`TwilioState` it reads and
updates (stored notify TwiML served once, listening turns, calls forgotten when they end) and
the daemon's views it reads (its endpoints: the signed and stream URLs; its stream registry:
stream tokens and whether an inbound caller may stream now). It never reads the environment or
a clock: the time comes in as ``now_ms``.

Which TwiML a webhook gets (first matching row):

========================================  ======================================================
request                                   reply
========================================  ======================================================
``type=recording``                        ``call.recording`` (a ``completed`` recording); empty
``AnsweredBy`` and ``type=amd``           ``call.answered_by`` (async AMD callback); empty
``SpeechResult`` (Gather action)          ``call.speech``; only the listening turn's own
                                          token ends that turn; a turn still listening:
                                          Gather again, else idle
``QueueResult`` (Enqueue action)          ``hangup``: ``call.ended`` (``hangup-user``), the
                                          call is forgotten; ``redirected``: empty; else idle
``Digits``                                ``call.dtmf``; as a redirect back (below)
``type=status``                           events by ``CallStatus``; empty; ends forget the call
``callId`` query (Url, redirect back)     terminal status: empty; on hold: queue; a turn
                                          listening: Gather again; stored notify TwiML
                                          (once); other notify calls: empty; streaming:
                                          stream; else idle
``Direction=inbound`` (first webhook)     ``call.initiated`` + ``call.answered``; others
                                          wait, or the daemon admits no more inbound
                                          streams: queue (in line, behind those waiting);
                                          streaming: stream; else idle
anything else                             events by ``CallStatus``; in progress: stream or
                                          idle; else empty
========================================  ======================================================
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

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
from voicecall_cli.providers.signatures import WebhookSecurity, reconstruct_public_url
from voicecall_cli.providers.twilio import twiml
from voicecall_cli.providers.twilio.signature import (
    TwilioSigner,
    sign_twilio,
    verify_twilio,
)
from voicecall_cli.providers.twilio.signature import form_pairs as lenient_form_pairs
from voicecall_cli.providers.twilio.state import TwilioState

DEFAULT_CONFIDENCE = 0.9

_PROGRESS_EVENTS = {
    "initiated": EventType.INITIATED,
    "ringing": EventType.RINGING,
    "in-progress": EventType.ANSWERED,
}
_END_REASONS = {  # terminal CallStatus -> end reason
    "completed": "completed",
    "failed": "failed",
    "busy": "busy",
    "no-answer": "no-answer",
    "canceled": "hangup-bot",
}
_DIRECTIONS = {"inbound": "inbound", "outbound-api": "outbound", "outbound-dial": "outbound"}
# AnsweredBy of the async AMD callback -> who answered; machine_end_*: the greeting is over
# (MachineDetection=DetectMessageEnd reports a machine only then).
_ANSWERED_BY = {"human": "human", "fax": "fax", "unknown": "unknown",
                "machine_start": "machine", "machine_end_beep": "machine",
                "machine_end_silence": "machine", "machine_end_other": "machine"}


@dataclass(frozen=True, slots=True)
class _Delivery:
    """One webhook's parameters, as the decisions use them."""

    form: dict[str, str]
    call_sid: str
    call_id: str  # our id from the query, else the CallSid
    call_id_in_query: bool
    status: str  # CallStatus, trimmed and lower-cased
    direction: str | None  # "inbound" | "outbound" | None
    is_status_callback: bool
    turn_token: str | None


class TwilioWebhookCodec:
    """Verify and parse Twilio voice webhooks (implements ``providers.base.WebhookCodec``).

    ``endpoints.signed_url`` is the URL Twilio signed (None: reconstruct it from the request);
    ``ngrok_loopback_bypass`` is the effective flag (see
    ``signatures.ngrok_loopback_bypass_effective``); ``voice`` is the ``<Say>`` voice (see
    ``voices.polly_voice``) used when a Gather is re-issued.
    """

    name = "twilio"
    static_pages = (StaticPage(twiml.HOLD_MUSIC_PATH, "text/xml", twiml.hold_music().encode()),)

    def __init__(self, auth_token: str, state: TwilioState, *, endpoints: Endpoints,
                 streams: Streams, security: WebhookSecurity, ngrok_loopback_bypass: bool,
                 voice: str, language: str = "en-US") -> None:
        self._auth_token = auth_token
        self._signer = TwilioSigner(auth_token)
        # The last verified body and its strict form pairs (None: not form data), so parse
        # reads a body verify has read without parsing it again; compared by identity.
        self._last_form: tuple[bytes, list[tuple[str, str]] | None] | None = None
        self._state = state
        self._endpoints = endpoints
        self._streams = streams
        self._security = security
        self._ngrok_loopback_bypass = ngrok_loopback_bypass
        self._voice = voice
        self._language = language

    def has_auth_headers(self, headers: Mapping[str, str]) -> bool:
        return bool(headers.get("x-twilio-signature"))

    def verify(self, request: WebhookRequest, now_ms: int) -> Verification:
        # The strict parse parse() needs; a body it refuses is still checked (leniently: its
        # undecodable bytes as U+FFFD), for the 401-or-400 order of reference 6.1. Where the
        # strict parse succeeds its pairs equal the lenient ones.
        try:
            strict: list[tuple[str, str]] | None = form_pairs(request.body)
        except ValueError:
            strict = None
        self._last_form = (request.body, strict)
        pairs = strict if strict is not None else lenient_form_pairs(request.body)
        result = verify_twilio(request, self._signer, self._security,
                               public_url=self._endpoints.signed_url,
                               ngrok_loopback_bypass=self._ngrok_loopback_bypass, pairs=pairs)
        return Verification(ok=result.ok, key=result.key, reason=result.reason, url=result.url)

    def sign_probe(self, url: str, body: bytes) -> dict[str, str] | None:
        return sign_twilio(self._auth_token, url, body)

    def parse(self, request: WebhookRequest, key: str, now_ms: int) -> WebhookReply:
        """Events and the TwiML reply for one delivery (``key`` empty: a fallback key).

        Raises ``ValueError`` when the body is not form data or has no ``CallSid``.
        """
        last = self._last_form
        parsed = last[1] if last is not None and last[0] is request.body else None
        delivery = _read_delivery(request, parsed)
        form = delivery.form
        if request.query.get("sayDone"):
            self._state.say_finished(request.query["sayDone"])
        events: list[tuple[EventType, dict[str, Any]]]
        if request.query.get("type") == "recording":  # RecordingStatusCallback (after the end)
            return WebhookReply(events=_recording_events(delivery, now_ms), status=200,
                                body=twiml.empty().encode(),
                                headers={"content-type": "application/xml"})
        if "AnsweredBy" in form and request.query.get("type") == "amd":
            events = [(EventType.ANSWERED_BY, answered_by(form["AnsweredBy"]))]
            reply = twiml.empty()  # Twilio ignores the answer to its AMD callback
        elif "SpeechResult" in form:
            events = [(EventType.SPEECH, {
                "transcript": form["SpeechResult"], "is_final": True,
                "confidence": _confidence(form.get("Confidence"))})]
            # Only the listening turn's own callback ends it: a late one of an older turn
            # leaves the current Gather pending and gets it again as its reply.
            self._state.end_turn(delivery.call_sid, delivery.turn_token)
            reply = self._gather_or_idle(request, delivery)
        elif "QueueResult" in form:  # the Enqueue's action: the caller left the hold queue
            events, reply = self._left_queue(request, delivery)
        elif "Digits" in form:  # a Gather's keys: the whole answer, as with SpeechResult
            events = [(EventType.DTMF, {"digits": form["Digits"], "keys_complete": True})]
            self._state.end_turn(delivery.call_sid, delivery.turn_token)
            reply = self._gather_or_idle(request, delivery)
        elif delivery.is_status_callback:
            events = _status_events(delivery.status)
            reply = twiml.empty()
        elif delivery.call_id_in_query:
            events = _status_events(delivery.status)
            reply = self._call_url_reply(request, delivery)
        elif delivery.direction == "inbound":
            events = [(EventType.INITIATED, {}), (EventType.ANSWERED, {})]
            reply = self._inbound_reply(request, delivery)
        else:
            events = _status_events(delivery.status)
            reply = (self._stream_or_idle(request, delivery) if delivery.status == "in-progress"
                     else twiml.empty())
        if delivery.status in _END_REASONS:
            self._state.forget(delivery.call_sid)
        dedupe_key = key or _fallback_key(request, delivery)
        return WebhookReply(
            events=_normalised(events, delivery, dedupe_key, now_ms), status=200,
            body=reply.encode(), headers={"content-type": "application/xml"})

    # -- TwiML decisions -----------------------------------------------------------------------

    def _pending_gather(self, request: WebhookRequest, delivery: _Delivery) -> str | None:
        """The Gather of the call's listening turn (None when no turn listens)."""
        listening, turn_token = self._state.pending_gather(delivery.call_sid)
        if not listening:
            return None
        call_url = self._call_url(request, delivery)
        action = twiml.turn_url(call_url, turn_token)
        return twiml.gather(action, prompt=None, voice=self._voice, language=self._language,
                            redirect_url=action,
                            accept=self._state.gather_accept(delivery.call_sid))

    def _gather_or_idle(self, request: WebhookRequest, delivery: _Delivery) -> str:
        """After a Gather callback: the turn still listening gets its Gather, else idle."""
        gather = self._pending_gather(request, delivery)
        return gather if gather is not None else twiml.idle(self._call_url(request, delivery))

    def _call_url_reply(self, request: WebhookRequest, delivery: _Delivery) -> str:
        """The call's own URL was requested (answer, or a redirect back to us)."""
        if delivery.status in _END_REASONS:
            return twiml.empty()
        if self._state.is_held(delivery.call_sid):
            return self._queue(request, delivery)  # still waiting for a stream slot
        gather = self._pending_gather(request, delivery)
        if gather is not None:
            return gather
        stored = self._state.take_notify_twiml(delivery.call_id)
        if stored is not None:
            return stored
        if self._state.is_notify(delivery.call_id):
            return twiml.empty()
        return self._stream_or_idle(request, delivery)

    def _inbound_reply(self, request: WebhookRequest, delivery: _Delivery) -> str:
        self._call_url(request, delivery)  # remembered, so the REST client can update the call
        if self._endpoints.stream_url and (self._state.queue_ahead(self._streams)
                                           or not self._streams.admits_inbound()):
            self._state.hold(delivery.call_sid)  # behind everyone already waiting
            return self._queue(request, delivery)
        return self._stream_or_idle(request, delivery)

    def _queue(self, request: WebhookRequest, delivery: _Delivery) -> str:
        """Hold TwiML whose Enqueue action tells us when the caller leaves the queue."""
        return twiml.queue(action_url=self._call_url(request, delivery))

    def _left_queue(self, request: WebhookRequest, delivery: _Delivery
                    ) -> tuple[list[tuple[EventType, dict[str, Any]]], str]:
        """The Enqueue's action: ``hangup`` ends the call (the caller gave up waiting); after
        ``redirected`` (we connected them) Twilio runs the redirect, not this reply; after
        any other result (queue full, a Twilio error) a held caller keeps their place and is
        kept on the line, coming back to be queued again."""
        result = delivery.form.get("QueueResult", "").strip().lower()
        if result == "hangup":
            self._state.forget(delivery.call_sid)
            return [(EventType.ENDED, {"reason": "hangup-user"})], twiml.empty()
        if result in ("redirected", "bridged", "bridging-in-process"):
            return [], twiml.empty()
        return [], twiml.idle(self._call_url(request, delivery))

    def _stream_or_idle(self, request: WebhookRequest, delivery: _Delivery) -> str:
        """Stream TwiML when streaming is on (the daemon's token for this call; the stream
        registers itself on its ``start``), else keep the call up and come back."""
        stream_url = self._endpoints.stream_url
        if stream_url:
            self._state.connected(delivery.call_sid)
            # an inbound caller's slot is taken now, not when Twilio gets to connect
            inbound = delivery.direction == "inbound"
            return twiml.stream(stream_url, self._streams.token(delivery.call_sid,
                                                                inbound=inbound))
        return twiml.idle(self._call_url(request, delivery))

    def _call_url(self, request: WebhookRequest, delivery: _Delivery) -> str:
        """The call's webhook URL with ``?callId=``: the one remembered, else this request's
        public URL with that query (remembered from now on)."""
        call_url = self._state.call_url(delivery.call_sid)
        if call_url is None:
            public = reconstruct_public_url(
                request, self._security, public_url=self._endpoints.signed_url,
                trust_loopback_forwarding=self._ngrok_loopback_bypass)
            parts = urlsplit(public)._replace(query=urlencode({"callId": delivery.call_id}))
            call_url = urlunsplit(parts)
            self._state.remember_call(delivery.call_id, delivery.call_sid, call_url)
        return call_url


def _read_delivery(request: WebhookRequest,
                   pairs: list[tuple[str, str]] | None = None) -> _Delivery:
    """The delivery's fields (``pairs``: the body's ``form_pairs`` when already parsed).
    Raises ``ValueError`` for a body that is not UTF-8 form data, repeats a field with
    different values (the signature sorts them, so which one came last is not signed) or has
    no ``CallSid``."""
    form = single_values(form_pairs(request.body) if pairs is None else pairs)
    call_sid = form.get("CallSid", "").strip()
    if not call_sid:
        raise ValueError("body has no CallSid")
    query_call_id = request.query.get("callId") or None
    return _Delivery(
        form=form, call_sid=call_sid, call_id=query_call_id or call_sid,
        call_id_in_query=query_call_id is not None,
        status=form.get("CallStatus", "").strip().lower(),
        direction=_DIRECTIONS.get(form.get("Direction", "").strip().lower()),
        is_status_callback=request.query.get("type") == "status",
        turn_token=request.query.get("turnToken") or None)


def _recording_events(delivery: _Delivery, now_ms: int) -> list[NormalizedEvent]:
    """A ``completed`` recording status callback: ``call.recording`` (its dedupe key is the
    RecordingSid, so a re-sent callback counts once); any other status: nothing."""
    form = delivery.form
    url = form.get("RecordingUrl", "").strip()
    sid = form.get("RecordingSid", "").strip()
    if form.get("RecordingStatus", "").strip().lower() != "completed" or not url or not sid:
        return []
    duration = form.get("RecordingDuration", "").strip()
    return _normalised([(EventType.RECORDING, {
        "recording_url": url,
        "recording_duration_s": whole_seconds(duration)})], delivery,
        f"twilio:recording:{sid}", now_ms)


def answered_by(raw: str) -> dict[str, Any]:
    """A ``call.answered_by`` event's fields for Twilio's ``AnsweredBy``."""
    word = raw.strip().lower()
    return {"answered_by": _ANSWERED_BY.get(word, "unknown"),
            "greeting_ended": word.startswith("machine_end_")}


def _status_events(status: str) -> list[tuple[EventType, dict[str, Any]]]:
    if status in _PROGRESS_EVENTS:
        return [(_PROGRESS_EVENTS[status], {})]
    if status in _END_REASONS:
        return [(EventType.ENDED, {"reason": _END_REASONS[status]})]
    return []  # queued and anything unknown: nothing to report


def _normalised(events: list[tuple[EventType, dict[str, Any]]], delivery: _Delivery,
                dedupe_key: str, now_ms: int) -> list[NormalizedEvent]:
    single = len(events) == 1
    return [
        NormalizedEvent(
            type=event_type, id=str(uuid.uuid4()), call_id=delivery.call_id, timestamp=now_ms,
            dedupe_key=dedupe_key if single else f"{dedupe_key}:{index}",
            provider_call_id=delivery.call_sid, turn_token=delivery.turn_token,
            direction=delivery.direction, from_number=delivery.form.get("From") or None,
            to_number=delivery.form.get("To") or None, **fields)
        for index, (event_type, fields) in enumerate(events)
    ]


def _confidence(raw: str | None) -> float:
    try:
        value = float(raw or "")
    except ValueError:
        return DEFAULT_CONFIDENCE
    return value if math.isfinite(value) else DEFAULT_CONFIDENCE


def _fallback_key(request: WebhookRequest, delivery: _Delivery) -> str:
    """The dedupe key of a delivery that has no verified request key."""
    form, query = delivery.form, request.query
    parts = [request.headers.get("x-twilio-signature", ""), delivery.call_sid,
             form.get("CallStatus", ""), form.get("Direction", ""), query.get("callId", ""),
             query.get("flow", ""), query.get("turnToken", "")]
    material = "\n".join(parts).encode() + b"\n" + request.body
    return "twilio:fallback:" + hashlib.sha256(material).hexdigest()
