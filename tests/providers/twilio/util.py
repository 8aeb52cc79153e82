"""Shared by the Twilio provider tests: recorded-shape fixtures, signed requests, and small
fakes of the daemon's two read-only views (``providers.base.Endpoints`` and ``Streams``).

Every signature here comes from the twilio SDK's ``RequestValidator`` (Twilio's own algorithm),
never from the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator

from voicecall_cli.providers.base import WebhookRequest

FIXTURES = Path(__file__).parent / "fixtures"
AUTH_TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
OUTBOUND_SID = "CA8e2b4f7a1c9d3e5f60718293a4b5c6d7"
INBOUND_SID = "CA1f3e5d7c9b2a4f6e8d0c1b3a5f7e9d2c"
OUR_NUMBER = "+15550100200"
CALLEE = "+15557654321"
CALL_ID = "3b0c6a52-52d4-4f5e-9a41-7f1f2f0e8c11"
PUBLIC = "https://voice.example.com"
CALL_URL = f"{PUBLIC}/voice/webhook?callId={CALL_ID}"
STREAM_URL = "wss://voice.example.com/voice/stream"


def form(name: str) -> bytes:
    """The body of ``fixtures/<name>.form`` (exactly as Twilio posts it)."""
    return (FIXTURES / f"{name}.form").read_bytes()


def golden(name: str) -> str:
    """The TwiML document in ``fixtures/<name>.xml`` (one line; the file's newline dropped)."""
    return (FIXTURES / f"{name}.xml").read_text().rstrip("\n")


def sign(url: str, body: bytes, token: str = AUTH_TOKEN) -> str:
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    return RequestValidator(token).compute_signature(url, params)


def request(url: str, body: bytes, *, signature: str | None = None,
            headers: dict[str, str] | None = None,
            remote_addr: str | None = "203.0.113.7") -> WebhookRequest:
    """A delivery of ``body`` to ``url`` as our server sees it: ``url`` carries the ``Host``
    header's authority, the headers are lower-case; ``signature`` goes in X-Twilio-Signature."""
    parts = urlsplit(url)
    all_headers = {"host": parts.netloc, "content-type": "application/x-www-form-urlencoded"}
    if signature is not None:
        all_headers["x-twilio-signature"] = signature
    all_headers.update(headers or {})
    server_url = f"http://{all_headers['host']}{parts.path}"
    if parts.query:
        server_url += "?" + parts.query
    return WebhookRequest(method="POST", url=server_url, path=parts.path,
                          query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                          headers=all_headers, body=body, remote_addr=remote_addr)


@dataclass
class FakeEndpoints:
    """The daemon's endpoints as a provider reads them; a test may change them at any time
    (a tunnel or ``expose`` does at run time)."""

    webhook_url: str | None = None
    signed_url: str | None = None
    stream_url: str | None = None


@dataclass
class FakeStreams:
    """The daemon's stream registry as a provider reads it, driven by the test.

    ``token(sid)`` is ``"token-for-<sid>"`` (so a document carrying it names the call it was
    minted for); ``live`` holds the CallSids with a live stream; ``admitting`` is what
    ``admits_inbound()`` answers. Every question asked is recorded."""

    live: set[str] = field(default_factory=set)
    admitting: bool = True
    tokens_asked: list[str] = field(default_factory=list)
    admits_asked: int = 0
    reserved: list[str] = field(default_factory=list)  # tokens handed out as inbound slots
    released: list[str] = field(default_factory=list)

    def token(self, provider_call_id: str, *, inbound: bool = False) -> str:
        self.tokens_asked.append(provider_call_id)
        if inbound:
            self.reserved.append(provider_call_id)
        return f"token-for-{provider_call_id}"

    def release(self, provider_call_id: str) -> None:
        self.released.append(provider_call_id)

    def has_stream(self, provider_call_id: str) -> bool:
        return provider_call_id in self.live

    def admits_inbound(self) -> bool:
        self.admits_asked += 1
        return self.admitting
