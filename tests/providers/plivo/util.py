"""Shared by the Plivo provider tests: identifiers, requests as Plivo sends them, signatures
made only with the plivo SDK, XML comparison, and the daemon's views.

Every V3 signature comes from ``plivo.utils.signature_v3`` (``construct_post_url`` /
``construct_get_url`` and ``get_signature_v3``); every V2 value is confirmed with the SDK's
``plivo.utils.validate_signature`` before a test uses it. Nothing here calls the code under test
to sign. Numbers are written as Plivo writes them: country code, no ``+``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from plivo.utils import validate_signature
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

from tests.providers.twilio.util import FakeEndpoints, FakeStreams
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.providers.base import WebhookReply, WebhookRequest
from voicecall_cli.providers.plivo.state import PlivoState
from voicecall_cli.providers.plivo.webhooks import PlivoWebhookCodec
from voicecall_cli.providers.signatures import WebhookSecurity

FIXTURES = Path(__file__).parent / "fixtures"
AUTH_ID = "MAODUYNDY0MTZIZDQ1OG"
AUTH_TOKEN = "ZjVmNzQ0NDQ0MTYyYjQ5ZmM2ZDcwNDU3OWIxNTY5"
NOW_MS = 1_796_141_484_000
CALL_ID = "3b0c6a52-52d4-4f5e-9a41-7f1f2f0e8c11"
REQUEST_UUID = "9834029e-58b6-11e1-b8b7-a5bd0e4e126f"
CALL_UUID = "d2a4b6c8-1e3f-4a5b-8c7d-9e0f1a2b3c4d"
INBOUND_UUID = "bd1b4d94-55e7-4d7f-9d4a-3a8b5e0f7c22"
OUR_NUMBER = "14155550100"
CALLEE = "14155550199"
PUBLIC = "https://voice.example.com"
WEBHOOK = f"{PUBLIC}/voice/webhook"
STREAM_URL = "wss://voice.example.com/voice/stream"
NONCE = "05429567804466091622"
STREAM_SECRET = b"plivo-tests-stream-secret-0123456"

Pairs = Sequence[tuple[str, str]]


# -- signing (the plivo SDK only) ---------------------------------------------------------------


def sdk_params(pairs: Pairs) -> dict[str, str | list[str]]:
    """Form pairs as the SDK's canonical form takes them: one value as a string, a repeated
    name as the list of its values."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}


def sign_v3(url: str, pairs: Pairs = (), *, method: str = "POST", nonce: str = NONCE,
            token: str = AUTH_TOKEN) -> str:
    """``X-Plivo-Signature-V3`` for a request to ``url`` (the URL Plivo was given)."""
    if method == "GET":
        base = construct_get_url(url, dict(sdk_params(pairs)))
    else:
        base = construct_post_url(url, dict(sdk_params(pairs)))
    return get_signature_v3(token.encode(), base.decode(), nonce.encode()).decode()


def sign_v2(url: str, *, nonce: str = NONCE, token: str = AUTH_TOKEN) -> str:
    """``X-Plivo-Signature-V2``: base64(HMAC-SHA256(token, URL without query + nonce)),
    confirmed with the SDK's own V2 validator."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    signature = base64.b64encode(
        hmac.new(token.encode(), (base + nonce).encode(), hashlib.sha256).digest()).decode()
    assert validate_signature(url, nonce, signature, token)
    return signature


def v3_headers(url: str, pairs: Pairs = (), *, method: str = "POST", nonce: str = NONCE,
               token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"x-plivo-signature-v3": sign_v3(url, pairs, method=method, nonce=nonce,
                                            token=token),
            "x-plivo-signature-v3-nonce": nonce}


def v2_headers(url: str, *, nonce: str = NONCE, token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"x-plivo-signature-v2": sign_v2(url, nonce=nonce, token=token),
            "x-plivo-signature-v2-nonce": nonce}


# -- requests as our server sees them -----------------------------------------------------------


def encode(pairs: Pairs) -> bytes:
    """A form body in Plivo's encoding."""
    return urlencode(list(pairs)).encode()


def request(url: str, body: bytes = b"", headers: Mapping[str, str] | None = None, *,
            method: str = "POST", host: str | None = None,
            remote_addr: str | None = "203.0.113.7") -> WebhookRequest:
    """A delivery to ``url`` as the webhook server builds it: its URL carries the ``Host``
    header (``host``, else ``url``'s authority) and the request's path and query."""
    parts = urlsplit(url)
    all_headers = {"host": host if host is not None else parts.netloc,
                   "content-type": "application/x-www-form-urlencoded"}
    all_headers.update(headers or {})
    server_url = f"http://{all_headers['host']}{parts.path}"
    if parts.query:
        server_url += "?" + parts.query
    return WebhookRequest(method=method, url=server_url, path=parts.path,
                          query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                          headers=all_headers, body=body, remote_addr=remote_addr)


def signed_request(url: str, pairs: Pairs, *, nonce: str = NONCE, host: str | None = None,
                   token: str = AUTH_TOKEN) -> WebhookRequest:
    """A POST of ``pairs`` to ``url`` carrying Plivo's V3 signature for it."""
    return request(url, encode(pairs), v3_headers(url, pairs, nonce=nonce, token=token),
                   host=host)


def call_url(query: Mapping[str, str] | None = None, base: str = WEBHOOK) -> str:
    return base + ("?" + urlencode(dict(query)) if query else "")


# -- the daemon's views, and a codec --------------------------------------------------------------


@dataclass
class PlivoStreams(FakeStreams):
    """``FakeStreams`` whose tokens are the daemon registry's (base64url, what a real daemon
    hands out), and which records the streams the codec ends."""

    registry: StreamRegistry = field(
        default_factory=lambda: StreamRegistry(secret=STREAM_SECRET))
    ended: list[tuple[str, str | None]] = field(default_factory=list)

    def token(self, provider_call_id: str, *, inbound: bool = False) -> str:
        self.tokens_asked.append(provider_call_id)
        if inbound:
            self.reserved.append(provider_call_id)
        return self.registry.token(provider_call_id, inbound=inbound)

    def end(self, provider_call_id: str, stream_id: str | None = None) -> None:
        self.ended.append((provider_call_id, stream_id))


def make_codec(state: PlivoState | None = None, *, endpoints: FakeEndpoints | None = None,
               streams: PlivoStreams | None = None, stream_url: str | None = None,
               security: WebhookSecurity | None = None) -> PlivoWebhookCodec:
    """A codec whose webhook and signed URL are ``WEBHOOK`` (``stream_url``: streams on)."""
    if endpoints is None:
        endpoints = FakeEndpoints(webhook_url=WEBHOOK, signed_url=WEBHOOK, stream_url=stream_url)
    return PlivoWebhookCodec(AUTH_TOKEN, state if state is not None else PlivoState(),
                             endpoints=endpoints,
                             streams=streams if streams is not None else PlivoStreams(),
                             security=security or WebhookSecurity())


def deliver(codec: PlivoWebhookCodec, url: str, pairs: Pairs, *, nonce: str = NONCE,
            host: str | None = None) -> tuple[WebhookReply, str]:
    """Plivo's POST of ``pairs`` to ``url``: verified by the codec (it must pass), then parsed
    with the verified key. Returns the reply and the key."""
    req = signed_request(url, pairs, nonce=nonce, host=host)
    verdict = codec.verify(req, NOW_MS)
    assert verdict.ok and verdict.key, verdict.reason
    return codec.parse(req, verdict.key, NOW_MS), verdict.key


def call_form(call_uuid: str = CALL_UUID, *, direction: str = "outbound",
              status: str = "in-progress", event: str | None = None,
              request_uuid: str | None = REQUEST_UUID,
              extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The parameters Plivo sends with every request about a call (its XML fetches too)."""
    pairs = [("From", OUR_NUMBER if direction == "outbound" else CALLEE),
             ("To", CALLEE if direction == "outbound" else OUR_NUMBER)]
    if request_uuid and direction == "outbound":
        pairs += [("RequestUUID", request_uuid), ("ALegRequestUUID", request_uuid)]
    pairs += [("CallUUID", call_uuid), ("Direction", direction), ("CallStatus", status)]
    if direction == "outbound":
        pairs.append(("ALegUUID", call_uuid))
    if event:
        pairs.append(("Event", event))
    pairs += list(extra)
    return pairs


# -- XML ----------------------------------------------------------------------------------------


def document(body: bytes | str) -> ET.Element:
    """A reply body parsed (it must be well-formed XML with Plivo's ``<Response>`` root)."""
    raw = body.encode() if isinstance(body, str) else body
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'), raw[:60]
    root = ET.fromstring(raw)
    assert root.tag == "Response"
    return root


def shape(element: ET.Element) -> tuple[Any, ...]:
    """An element as (tag, attributes, text, children): attribute order is incidental."""
    text = (element.text or "").strip() or None
    return (element.tag, dict(element.attrib), text, [shape(child) for child in element])


def same_document(actual: bytes | str, expected: bytes | str) -> bool:
    return shape(document(actual)) == shape(document(expected))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())
