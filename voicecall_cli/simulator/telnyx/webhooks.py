"""How the fake Telnyx sends webhooks: compact JSON events POSTed with an Ed25519 signature.

The body is ``{"data": {"record_type": "event", "event_type", "id", "occurred_at",
"payload"}, "meta": {"attempt", "delivered_to"}}`` serialised once, compactly; those exact
bytes are signed and sent. Headers: ``telnyx-timestamp`` (unix seconds) and
``telnyx-signature-ed25519``, the base64 Ed25519 signature of ``f"{timestamp}|"`` + body, made
with the simulator's private key (:class:`WebhookSigner`; it never leaves this object, only
the raw public key is exported, base64). A re-delivery of the same event (a retry, a
duplicate) always carries a later timestamp than the previous one, so its signature differs
even within one second.

Only loopback URLs are called. A URL on another host is delivered only when ``forward`` maps
its origin (``https://voice.example.com``) to a loopback origin (``http://127.0.0.1:8443``), as a
tunnel would: the request goes to the loopback one with the public host in ``Host`` and
``X-Forwarded-Host`` plus ``X-Forwarded-Proto`` (the routing is
:class:`~voicecall_cli.simulator.routing.WebhookRouter`'s). Any other URL is refused and
recorded as a failed delivery; nothing leaves the machine.

Ordering, duplicates and retries: :class:`EventOutbox` (one per call) under a
:class:`DeliveryPolicy`.

Error handling: :meth:`WebhookSender.deliver` never raises for HTTP or network trouble; the
returned :class:`WebhookDelivery` carries the status code or the error text.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from voicecall_cli.simulator.routing import WebhookRouter
from voicecall_cli.simulator.tasks import SerialQueue
from voicecall_cli.simulator.telnyx.call import WebhookDelivery

USER_AGENT = "telnyx-webhooks"
WEBHOOK_TIMEOUT_S = 10.0


def iso8601(ms: int) -> str:
    """A timestamp as Telnyx writes them: ``2018-02-02T22:25:27.521992Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WebhookSigner:
    """Holds the Ed25519 private key; signs ``timestamp|body``."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self._key = key or Ed25519PrivateKey.generate()
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = base64.b64encode(raw).decode("ascii")  # what telnyx.publicKey holds

    def sign(self, timestamp: int, body: bytes) -> str:
        return base64.b64encode(self._key.sign(f"{timestamp}|".encode() + body)).decode("ascii")


def event_body(*, event_type: str, event_id: str, occurred_at: str, payload: dict[str, Any],
               attempt: int, delivered_to: str | None) -> bytes:
    """The webhook body, compact JSON (the bytes that are signed)."""
    return json.dumps({
        "data": {"record_type": "event", "event_type": event_type, "id": event_id,
                 "occurred_at": occurred_at, "payload": payload},
        "meta": {"attempt": attempt, "delivered_to": delivered_to},
    }, separators=(",", ":")).encode()


class WebhookSender:
    """Signs and POSTs webhooks with a shared httpx client (owned by the caller)."""

    def __init__(self, http: httpx.AsyncClient, signer: WebhookSigner, *,
                 clock_ms: Callable[[], int], forward: Mapping[str, str] | None = None) -> None:
        self._http = http
        self._signer = signer
        self._clock_ms = clock_ms
        self._last_timestamp: dict[str, int] = {}  # event id -> telnyx-timestamp last used
        self._router = WebhookRouter(forward)

    async def deliver(self, url: str | None, *, event_type: str, event_id: str,
                      occurred_at: str, payload: dict[str, Any],
                      attempt: int = 1) -> WebhookDelivery:
        """POST one event to ``url``; the response is read in full."""
        body = event_body(event_type=event_type, event_id=event_id, occurred_at=occurred_at,
                          payload=payload, attempt=attempt, delivered_to=url)
        timestamp = self._timestamp(event_id)
        headers = {"content-type": "application/json", "user-agent": USER_AGENT,
                   "telnyx-timestamp": str(timestamp),
                   "telnyx-signature-ed25519": self._signer.sign(timestamp, body)}

        def failed(error: str) -> WebhookDelivery:
            return WebhookDelivery(url, event_type, event_id, attempt, body, headers, None,
                                   error=error)

        if url is None:
            return failed("no webhook URL for this call")
        target, extra_headers = self._router.route(url)
        if target is None:
            return failed("refused: not a loopback URL and not forwarded")
        try:
            response = await self._http.post(target, content=body,
                                             headers={**headers, **extra_headers},
                                             timeout=WEBHOOK_TIMEOUT_S)
        except httpx.HTTPError as exc:
            return failed(f"{type(exc).__name__}: {exc}")
        return WebhookDelivery(url, event_type, event_id, attempt, body, headers,
                               response.status_code, response_body=response.text)

    def _timestamp(self, event_id: str) -> int:
        now = self._clock_ms() // 1000
        last = self._last_timestamp.get(event_id)
        timestamp = now if last is None else max(now, last + 1)
        self._last_timestamp[event_id] = timestamp
        if len(self._last_timestamp) > 4096:  # forget the oldest events (long demo runs)
            del self._last_timestamp[next(iter(self._last_timestamp))]
        return timestamp


@dataclass(slots=True)
class DeliveryPolicy:
    """How the simulator delivers, shared by all calls and changed by tests at any time:
    ``duplicate_events`` (event types delivered twice) and ``retry_delay_s`` (the wait before
    the one re-delivery of an event whose first delivery was not answered 2xx)."""

    duplicate_events: set[str] = field(default_factory=set)
    retry_delay_s: float = 0.25


@dataclass(frozen=True, slots=True)
class _Event:
    event_type: str
    event_id: str
    occurred_at: str
    payload: dict[str, Any]
    url: str | None


class EventOutbox:
    """One call's webhooks, delivered one at a time in the order they were emitted.

    :meth:`emit` never blocks; a task (started by :meth:`start` in the simulator's nursery, not
    cancelled when the call ends) delivers. An event in ``policy.duplicate_events`` is delivered
    twice in a row (same body, later timestamp). A delivery not answered 2xx is re-delivered
    once, ``retry_delay_s`` later, with ``meta.attempt`` 2 and the same ``data.id``, in a task of
    its own (later events do not wait for it). :meth:`close` lets the task finish what was
    emitted, then end; :meth:`abandon` drops whatever is not delivered yet.
    """

    def __init__(self, sender: WebhookSender, policy: DeliveryPolicy, nursery: trio.Nursery,
                 record: Callable[[WebhookDelivery], None]) -> None:
        self._sender = sender
        self._policy = policy
        self._nursery = nursery
        self._record = record
        self._queue = SerialQueue[_Event](nursery, self._deliver_in_turn)

    def start(self) -> None:
        self._queue.start()

    def emit(self, event_type: str, payload: dict[str, Any], *, occurred_at: str,
             url: str | None) -> None:
        self._queue.put(_Event(event_type, str(uuid.uuid4()), occurred_at, payload, url))

    def close(self) -> None:
        self._queue.close()

    def abandon(self) -> None:
        self._queue.abandon()

    async def _deliver_in_turn(self, event: _Event) -> None:
        await self._deliver(event)
        if event.event_type in self._policy.duplicate_events and not self._queue.abandoned:
            await self._deliver(event)

    async def _deliver(self, event: _Event, attempt: int = 1) -> None:
        delivery = await self._sender.deliver(
            event.url, event_type=event.event_type, event_id=event.event_id,
            occurred_at=event.occurred_at, payload=event.payload, attempt=attempt)
        self._record(delivery)
        refused = event.url is None or (delivery.error or "").startswith("refused")
        if attempt == 1 and not delivery.ok and not refused:
            self._nursery.start_soon(self._retry, event)

    async def _retry(self, event: _Event) -> None:
        await trio.sleep(self._policy.retry_delay_s)
        if not self._queue.abandoned:
            await self._deliver(event, attempt=2)
