"""The mock carrier's webhook wire format: a pure codec (reference section 4.4).

A mock webhook is a JSON POST ``{"events": [...]}`` or ``{"event": {...}}``; each event is an
object with camelCase keys (``type``, ``callId``, ``id``, ``timestamp``, ``providerCallId``,
``turnToken``, ``direction``, ``from``, ``to``, ``text``, ``transcript``, ``isFinal``,
``confidence``, ``durationMs``, ``digits``, ``reason``, ``error``, ``retryable``,
``recordingUrl``, ``recordingDurationSec``, and for ``call.answered_by`` ``answeredBy`` and
``greetingEnded``). There is no
signature: the request key is ``"mock:" + sha256(body)``, so an identical payload is a replay
(anyone who can reach the webhook can send a new one: the mock carrier verifies nothing). Bodies
are decoded strictly (``bodies.json_body``): not UTF-8 JSON text is a 400.

:class:`MockWebhookCodec` parses; :func:`encode_mock_event` writes the same format (the mock
carrier's simulated callee uses it, so both directions are tested against each other).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.core.states import END_REASONS
from voicecall_cli.providers.base import (
    StaticPage,
    Verification,
    WebhookReply,
    WebhookRequest,
)
from voicecall_cli.providers.bodies import json_body

_EVENT_TYPES = {t.value: t for t in EventType}
_END_REASONS = {str(r) for r in END_REASONS}
_REPLY_BODY = b'{"ok":true}'

# camelCase wire key -> (NormalizedEvent field, accepted python types)
_OPTIONAL_FIELDS: dict[str, tuple[str, tuple[type, ...]]] = {
    "providerCallId": ("provider_call_id", (str,)),
    "turnToken": ("turn_token", (str,)),
    "direction": ("direction", (str,)),
    "from": ("from_number", (str,)),
    "to": ("to_number", (str,)),
    "text": ("text", (str,)),
    "transcript": ("transcript", (str,)),
    "isFinal": ("is_final", (bool,)),
    "confidence": ("confidence", (int, float)),
    "durationMs": ("duration_ms", (int,)),
    "digits": ("digits", (str,)),
    "reason": ("reason", (str,)),
    "error": ("error", (str,)),
    "retryable": ("retryable", (bool,)),
    "recordingUrl": ("recording_url", (str,)),
    "recordingDurationSec": ("recording_duration_s", (int,)),
    "answeredBy": ("answered_by", (str,)),
    "greetingEnded": ("greeting_ended", (bool,)),
}
# Fields written by encode_mock_event for each event type, beyond the common ones.
_TYPE_FIELDS: dict[EventType, tuple[str, ...]] = {
    EventType.SPEAKING: ("text",),
    EventType.SPEECH: ("transcript", "isFinal", "confidence"),
    EventType.SILENCE: ("durationMs",),
    EventType.DTMF: ("digits",),
    EventType.ENDED: ("reason",),
    EventType.ANSWERED_BY: ("answeredBy", "greetingEnded"),
    EventType.ERROR: ("error", "retryable"),
    EventType.RECORDING: ("recordingUrl", "recordingDurationSec"),
}
_COMMON_OPTIONAL = ("providerCallId", "turnToken", "direction", "from", "to")


def mock_request_key(body: bytes) -> str:
    return "mock:" + hashlib.sha256(body).hexdigest()


class MockWebhookCodec:
    """Verify and parse mock webhooks. Stateless; one instance serves any number of requests."""

    name = "mock"
    static_pages: tuple[StaticPage, ...] = ()

    def has_auth_headers(self, headers: Mapping[str, str]) -> bool:
        return True  # the mock carrier signs nothing

    def verify(self, request: WebhookRequest, now_ms: int) -> Verification:
        return Verification(ok=True, key=mock_request_key(request.body))

    def sign_probe(self, url: str, body: bytes) -> dict[str, str] | None:
        return {}  # the mock carrier signs nothing

    def parse(self, request: WebhookRequest, key: str, now_ms: int) -> WebhookReply:
        """Events of the body (entries without a known ``type`` or a ``callId`` are skipped).

        Raises ``ValueError`` when the body is not a JSON object of the expected shape or a
        field has the wrong type.
        """
        raw_events = _raw_events(request.body)
        single = len(raw_events) == 1
        events = []
        for index, raw in enumerate(raw_events):
            dedupe_key = key if single else f"{key}:{index}"
            event = _parse_event(raw, index, dedupe_key, now_ms)
            if event is not None:
                events.append(event)
        return WebhookReply(events=events, status=200, body=_REPLY_BODY,
                            headers={"content-type": "application/json"})


def _raw_events(body: bytes) -> list[Any]:
    document = json_body(body)
    if not isinstance(document, dict):
        raise ValueError("body must be a JSON object")
    if "events" in document:
        events = document["events"]
        if not isinstance(events, list):
            raise ValueError("events must be a list")
        return events
    if "event" in document:
        return [document["event"]]
    raise ValueError('body must hold "events" or "event"')


def _parse_event(raw: Any, index: int, dedupe_key: str, now_ms: int) -> NormalizedEvent | None:
    if not isinstance(raw, dict):
        return None
    event_type = _EVENT_TYPES.get(raw.get("type"))  # type: ignore[arg-type]
    call_id = raw.get("callId")
    if event_type is None or not isinstance(call_id, str) or not call_id:
        return None
    event_id = raw.get("id")
    if event_id is None:
        event_id = str(uuid.uuid4())
    elif not isinstance(event_id, str):
        raise ValueError(f"events[{index}].id must be a string")
    timestamp = raw.get("timestamp")
    if timestamp is None:
        timestamp = now_ms
    elif isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise ValueError(f"events[{index}].timestamp must be an integer (epoch ms)")
    event = NormalizedEvent(type=event_type, id=event_id, call_id=call_id, timestamp=timestamp,
                            dedupe_key=dedupe_key)
    for wire_key, (attribute, types) in _OPTIONAL_FIELDS.items():
        value = raw.get(wire_key)
        if value is None:
            continue
        wrong_bool = isinstance(value, bool) and bool not in types
        if wrong_bool or not isinstance(value, types):
            raise ValueError(f"events[{index}].{wire_key} has the wrong type")
        setattr(event, attribute, value)
    if event.reason not in _END_REASONS:
        raise ValueError(f"events[{index}].reason is not an end reason: {event.reason!r}")
    return event


def encode_mock_event(event: NormalizedEvent) -> bytes:
    """The mock webhook body carrying ``event`` alone (its ``dedupe_key`` is not sent)."""
    wire: dict[str, Any] = {"type": event.type.value, "id": event.id, "callId": event.call_id,
                            "timestamp": event.timestamp}
    wanted = _COMMON_OPTIONAL + _TYPE_FIELDS.get(event.type, ())
    for wire_key in wanted:
        value = getattr(event, _OPTIONAL_FIELDS[wire_key][0])
        if value is not None:
            wire[wire_key] = value
    return json.dumps({"event": wire}, separators=(",", ":")).encode()
