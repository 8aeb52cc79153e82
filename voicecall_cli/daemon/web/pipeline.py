"""The lean webhook request pipeline: a bare ASGI callable for exactly the webhook path.

This is the hot path (DESIGN section 8): no framework, one task per request (hypercorn's), a
response built in one go. The steps and status codes are those of reference section 6.1, in
order: method (405), pre-auth header gate (401, body unread), per-source-IP in-flight limit (429,
body unread), body read within ``max_body`` bytes and ``body_timeout_s`` seconds (413 / 408),
signature verification (401), replay check, parse (400 for a malformed body), hand the events to
``on_events`` (skipped for a replay; its exceptions are logged, never fatal), then the codec's
reply. Anything unexpected is logged and answered 500.

Nothing here logs request bodies or query strings: webhooks carry phone numbers. Logs name the
source address, body size, the request key and event types.

Resource handling: :class:`WebhookPipeline` holds only counters; the server owns the sockets.
Cancellation (server shutdown) interrupts a request anywhere, releasing its in-flight slot.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import trio

from voicecall_cli.core.events import NormalizedEvent
from voicecall_cli.daemon.web.diagnostics import PROBE_REPLY, WebhookDiagnostics
from voicecall_cli.providers.base import WebhookCodec, WebhookReply, WebhookRequest
from voicecall_cli.providers.replay import ReplayCache

logger = logging.getLogger("voicecall.web")
REPLY_CACHE_SIZE = 1024

Headers = list[tuple[bytes, bytes]]
Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class _Reject(Exception):
    """Answer the request now with ``status`` and a plain-text ``text`` body."""

    def __init__(self, status: int, text: str, extra_headers: Headers | None = None) -> None:
        super().__init__(status, text)
        self.status = status
        self.text = text
        self.extra_headers = extra_headers or []


class _ClientGone(Exception):
    """The client disconnected before sending its whole body: nobody to answer."""


async def send_response(send: Send, status: int, headers: Headers, body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_text(send: Send, status: int, text: str,
                    extra_headers: Headers | None = None) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), *(extra_headers or [])]
    await send_response(send, status, headers, text.encode())


class WebhookPipeline:
    """ASGI callable serving one provider's webhook path (the dispatcher routes to it).

    ``on_events`` is called synchronously, in the request's task, with the events of each
    non-replayed delivery that has any; it must not block (hand the events on, e.g. to a
    memory channel). ``diagnostics`` (shared with ``doctor``) remembers the last rejected
    webhook and answers ``doctor``'s probes once their signature is verified.
    """

    def __init__(self, *, codec: WebhookCodec, on_events: Callable[[list[NormalizedEvent]], None],
                 replay: ReplayCache, clock_ms: Callable[[], int],
                 skip_signature_verification: bool, body_timeout_s: float, max_body: int,
                 max_in_flight_per_ip: int,
                 diagnostics: WebhookDiagnostics | None = None) -> None:
        self._codec = codec
        self._diagnostics = diagnostics or WebhookDiagnostics()
        self._on_events = on_events
        self._replay = replay
        self._replies: dict[str, WebhookReply] = {}  # newest REPLY_CACHE_SIZE first replies
        self._clock_ms = clock_ms
        self._skip_signature = skip_signature_verification
        self._body_timeout_s = body_timeout_s
        self._max_body = max_body
        self._max_in_flight = max_in_flight_per_ip
        self._in_flight: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            reply = await self._handle(scope, receive)
        except _Reject as reject:
            await send_text(send, reject.status, reject.text, reject.extra_headers)
            return
        except _ClientGone:
            logger.debug("webhook client went away before sending its body")
            return
        except Exception:
            logger.exception("webhook handling failed")
            await send_text(send, 500, "Internal Server Error")
            return
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                   for k, v in reply.headers.items() if k.lower() != "content-length"]
        await send_response(send, reply.status, headers, reply.body)

    async def _handle(self, scope: Scope, receive: Receive) -> WebhookReply:
        if scope["method"] != "POST":
            raise _Reject(405, "Method Not Allowed", [(b"allow", b"POST")])
        headers = _header_map(scope["headers"])
        if not self._skip_signature and not self._codec.has_auth_headers(headers):
            logger.warning("webhook rejected: missing %s signature headers", self._codec.name)
            self._note_rejection(scope, headers, f"missing {self._codec.name} signature "
                                 "headers", None)
            raise _Reject(401, "Unauthorized")
        client = scope.get("client")
        remote_addr = client[0] if client else None
        ip_key = remote_addr or "unknown"
        in_flight = self._in_flight.get(ip_key, 0)
        if in_flight >= self._max_in_flight:
            logger.warning("webhook rejected: %d requests in flight from %s", in_flight, ip_key)
            raise _Reject(429, "Too Many Requests")
        self._in_flight[ip_key] = in_flight + 1
        try:
            body = await self._read_body(receive, headers)
            return self._process(scope, headers, body, remote_addr)
        finally:
            remaining = self._in_flight[ip_key] - 1
            if remaining:
                self._in_flight[ip_key] = remaining
            else:
                del self._in_flight[ip_key]

    async def _read_body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            raise _Reject(413, "Payload Too Large")
        chunks: list[bytes] = []
        size = 0
        with trio.move_on_after(self._body_timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self._max_body:
                    raise _Reject(413, "Payload Too Large")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        raise _Reject(408, "Request Timeout")

    def _process(self, scope: Scope, headers: dict[str, str], body: bytes,
                 remote_addr: str | None) -> WebhookReply:
        request = _webhook_request(scope, headers, body, remote_addr)
        now_ms = self._clock_ms()
        if self._skip_signature:
            key = _unverified_key(self._codec.name, request)
        else:
            verification = self._codec.verify(request, now_ms)
            if not verification.ok or not verification.key:
                reason = verification.reason or "no request key"
                logger.warning("webhook rejected: %s", reason)
                self._note_rejection(scope, headers, reason, verification.url)
                raise _Reject(401, "Unauthorized")
            key = verification.key
        probe = self._diagnostics.probe_nonce(headers)
        if probe is not None:  # doctor's own request, verified: answer it and do nothing else
            self._diagnostics.answer_probe(probe, request.path)
            return WebhookReply(body=PROBE_REPLY)
        is_replay = self._replay.seen(key, now_ms)
        if is_replay and key in self._replies:
            # The same answer as the first delivery got, and nothing else happens: parsing
            # again could consume state (a call's stored notify TwiML, reference 13.7).
            logger.info("Replay detected; skipping event side effects (key %s)", key)
            return self._replies[key]
        try:
            reply = self._codec.parse(request, key, now_ms)
        except ValueError as exc:
            logger.warning("webhook rejected: malformed %d-byte body (%s)", len(body), exc)
            raise _Reject(400, "Bad Request") from None
        if not is_replay:
            self._replies[key] = reply
            if len(self._replies) > REPLY_CACHE_SIZE:
                del self._replies[next(iter(self._replies))]
        if is_replay:
            logger.info("Replay detected; skipping event side effects (key %s)", key)
        elif reply.events:
            logger.debug("webhook from %s: %d bytes, events %s", remote_addr, len(body),
                         [event.type.value for event in reply.events])
            try:
                self._on_events(reply.events)
            except Exception:
                logger.exception("processing webhook events failed (key %s)", key)
        return reply


    def _note_rejection(self, scope: Scope, headers: dict[str, str], reason: str,
                        verified_url: str | None) -> None:
        client = scope.get("client")
        self._diagnostics.note_rejection(
            at_ms=self._clock_ms(), reason=reason, url=_request_url(scope, headers),
            path=scope["path"], headers=headers, verified_url=verified_url,
            remote_addr=client[0] if client else None)


def _header_map(raw_headers: Headers) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _request_url(scope: Scope, headers: dict[str, str]) -> str:
    """``http://<Host header or localhost><raw path>[?<query>]``."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query_string = scope.get("query_string", b"").decode("latin-1")
    url = f"http://{headers.get('host') or 'localhost'}{raw_path.decode('latin-1')}"
    return f"{url}?{query_string}" if query_string else url


def _webhook_request(scope: Scope, headers: dict[str, str], body: bytes,
                     remote_addr: str | None) -> WebhookRequest:
    url = _request_url(scope, headers)
    query_string = scope.get("query_string", b"").decode("latin-1")
    query = dict(parse_qsl(query_string, keep_blank_values=True))
    return WebhookRequest(method=scope["method"], url=url, path=scope["path"], query=query,
                          headers=headers, body=body, remote_addr=remote_addr)


def _unverified_key(provider: str, request: WebhookRequest) -> str:
    """The request key when signatures are skipped: exact duplicates are still replays (6.6)."""
    material = b"\n".join([request.method.encode(), request.url.encode(), request.body])
    return f"{provider}:skip:" + hashlib.sha256(material).hexdigest()
