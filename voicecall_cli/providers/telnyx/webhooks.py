"""Telnyx Call Control webhooks: verify, parse into events (reference 4.2, 6.4).

Telnyx POSTs JSON ``{"data": {"id", "event_type", "occurred_at", "payload": {...}}, "meta"}``
to the ``webhook_url`` of the dial (outbound) or of the connection (inbound calls), signed with
Ed25519 (:mod:`.signature`). Every payload names the call by ``call_control_id`` and carries the
newest ``client_state`` (:mod:`.state`): our call id, plus the turn token while a turn listens.

=========================  ================================================================
``event_type``             events
=========================  ================================================================
``call.initiated``         ``call.initiated`` (an ``incoming`` one is a new inbound call)
``call.ringing``           ``call.ringing``
``call.answered``          ``call.answered``
``call.bridged``           ``call.active``
``call.speak.started``     ``call.speaking``
``call.speak.ended``       none; the ``speak`` command waiting for it returns
``call.transcription``     ``call.speech`` (``transcription_data``, else the older flat fields)
``call.dtmf.received``     ``call.dtmf``
``call.machine.*``         ``call.answered_by``: ``detection.ended`` (``result`` human,
                           machine, fax, else unknown), ``greeting.ended`` (a machine whose
                           greeting is over)
``call.hangup``            ``call.ended`` with the reason of its ``hangup_cause``
``call.recording.saved``   ``call.recording``: the mp3 URL (``public_recording_urls``, else
                           ``recording_urls``), the duration from its start and end times
``streaming.*``, others    none (acknowledged)
=========================  ================================================================

The event's dedupe key is ``telnyx:event:<data.id>``: Telnyx re-delivers an event with a new
timestamp and signature (a new request key) but the same id, so a re-delivered
``call.answered`` counts once. The reply is always ``200 OK``.

Pure apart from the shared :class:`~.state.TelnyxState` (speeches finishing, calls ending); the
time comes in as ``now_ms``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.providers.base import StaticPage, Verification, WebhookReply, WebhookRequest
from voicecall_cli.providers.bodies import json_body
from voicecall_cli.providers.telnyx.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_telnyx,
)
from voicecall_cli.providers.telnyx.state import TelnyxState, decode_client_state

_PROGRESS_EVENTS = {
    "call.initiated": EventType.INITIATED,
    "call.ringing": EventType.RINGING,
    "call.answered": EventType.ANSWERED,
    "call.bridged": EventType.ACTIVE,
}
# hangup_cause -> end reason (reference 4.2); anything else ends the call "completed".
HANGUP_REASONS = {
    "normal_clearing": "completed",
    "normal_unspecified": "completed",
    "originator_cancel": "hangup-bot",
    "call_rejected": "busy",
    "user_busy": "busy",
    "no_answer": "no-answer",
    "no_user_response": "no-answer",
    "timeout": "no-answer",
    "destination_out_of_order": "failed",
    "network_out_of_order": "failed",
    "service_unavailable": "failed",
    "recovery_on_timer_expire": "failed",
    "unallocated_number": "failed",
    "machine_detected": "voicemail",
    "fax_detected": "voicemail",
    "user_hangup": "hangup-user",
    "subscriber_absent": "hangup-user",
}
_DIRECTIONS = {"incoming": "inbound", "inbound": "inbound", "outgoing": "outbound",
               "outbound": "outbound"}
DEFAULT_CONFIDENCE = 0.9
# call.machine.detection.ended's result -> who answered (not_sure and others: unknown)
_DETECTED = {"human": "human", "machine": "machine", "fax": "fax"}


class TelnyxWebhookCodec:
    """Verify and parse Telnyx webhooks (implements ``providers.base.WebhookCodec``).

    ``public_key`` is the account's Ed25519 key (None: every webhook is refused, unless the
    daemon skips verification)."""

    name = "telnyx"
    static_pages: tuple[StaticPage, ...] = ()

    def __init__(self, public_key: Ed25519PublicKey | None, state: TelnyxState) -> None:
        self._public_key = public_key
        self._state = state

    def has_auth_headers(self, headers: Mapping[str, str]) -> bool:
        return bool(headers.get(SIGNATURE_HEADER)) and bool(headers.get(TIMESTAMP_HEADER))

    def verify(self, request: WebhookRequest, now_ms: int) -> Verification:
        result = verify_telnyx(request, self._public_key, now_ms)
        return Verification(ok=result.ok, key=result.key, reason=result.reason)

    def sign_probe(self, url: str, body: bytes) -> dict[str, str] | None:
        return None  # Telnyx signs with its private key; we hold only the public one

    def parse(self, request: WebhookRequest, key: str, now_ms: int) -> WebhookReply:
        """Events for one delivery. Raises ``ValueError`` when the body is not UTF-8 JSON text
        (``bodies.json_body``: lone surrogate escapes and ``NaN`` included); a JSON
        body without ``data.event_type`` or a call id is acknowledged with no events."""
        body = json_body(request.body)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("event_type"), str):
            return WebhookReply()
        payload = data.get("payload")
        payload = payload if isinstance(payload, dict) else {}
        event_type = data["event_type"]
        pid = _text(payload.get("call_control_id"))
        if not pid and event_type == "call.recording.saved":  # its documented example names
            pid = _text(payload.get("call_leg_id"))  # the leg only (client_state: our id)
        if not pid:
            return WebhookReply()
        event_id = _text(data.get("id"))
        if event_type == "call.speak.ended":
            self._state.speak_ended(pid, event_id)
            return WebhookReply()
        found = _event(event_type, payload)
        if event_type == "call.hangup":
            self._state.forget(pid)
        if found is None:
            return WebhookReply()
        kind, fields = found
        call_id, turn_token = decode_client_state(payload.get("client_state"))
        direction = _DIRECTIONS.get(_text(payload.get("direction")).lower())
        event = NormalizedEvent(
            type=kind, id=event_id or str(uuid.uuid4()), call_id=call_id or pid,
            timestamp=now_ms, dedupe_key=f"telnyx:event:{event_id}" if event_id else key,
            provider_call_id=pid, turn_token=turn_token, direction=direction,
            from_number=_text(payload.get("from")) or None,
            to_number=_text(payload.get("to")) or None, **fields)
        return WebhookReply(events=[event])


def _event(event_type: str, payload: dict[str, Any]) -> tuple[EventType, dict[str, Any]] | None:
    if event_type in _PROGRESS_EVENTS:
        return _PROGRESS_EVENTS[event_type], {}
    if event_type == "call.hangup":
        cause = _text(payload.get("hangup_cause")).lower()
        return EventType.ENDED, {"reason": HANGUP_REASONS.get(cause, "completed")}
    if event_type == "call.transcription":
        return _transcription(payload)
    if event_type == "call.speak.started":
        return EventType.SPEAKING, {}
    if event_type == "call.recording.saved":
        return _recording(payload)
    if event_type == "call.machine.detection.ended":
        result = _text(payload.get("result")).lower()
        return EventType.ANSWERED_BY, {"answered_by": _DETECTED.get(result, "unknown")}
    if event_type == "call.machine.greeting.ended":
        return EventType.ANSWERED_BY, {"answered_by": "machine", "greeting_ended": True}
    if event_type == "call.dtmf.received":
        digit = _text(payload.get("digit"))
        return (EventType.DTMF, {"digits": digit}) if digit else None
    return None


def _recording(payload: dict[str, Any]) -> tuple[EventType, dict[str, Any]] | None:
    url = ""
    for key in ("public_recording_urls", "recording_urls"):
        urls = payload.get(key)
        if isinstance(urls, dict):
            url = _text(urls.get("mp3")) or _text(urls.get("wav"))
            if url:
                break
    if not url:
        return None
    started = _instant(payload.get("recording_started_at"))
    ended = _instant(payload.get("recording_ended_at"))
    duration = (max(0, round((ended - started).total_seconds()))
                if started is not None and ended is not None else None)
    return EventType.RECORDING, {"recording_url": url, "recording_duration_s": duration}


def _instant(value: object) -> datetime | None:
    """An ISO 8601 time with its zone (Telnyx writes ``2018-02-02T22:20:27.521992Z``)."""
    text = _text(value).strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
    return when if when is not None and when.tzinfo is not None else None


def _transcription(payload: dict[str, Any]) -> tuple[EventType, dict[str, Any]] | None:
    data = payload.get("transcription_data")
    source = data if isinstance(data, dict) else payload
    text_key = "transcript" if source is data else "transcription"
    transcript = _text(source.get(text_key)).strip()
    if not transcript:
        return None
    is_final = source.get("is_final")
    return EventType.SPEECH, {"transcript": transcript,
                              "is_final": is_final if isinstance(is_final, bool) else True,
                              "confidence": _confidence(source.get("confidence"))}


def _confidence(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DEFAULT_CONFIDENCE
    return float(value) if math.isfinite(value) else DEFAULT_CONFIDENCE


def _text(value: object) -> str:
    """A string field, or "" for anything else; lone surrogates (valid JSON escapes, invalid
    text) become "?" so that nothing downstream chokes on them."""
    if not isinstance(value, str):
        return ""
    return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")
