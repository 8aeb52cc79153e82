"""The narrow shape every carrier adapter has (DESIGN section 6).

Two halves:

* :class:`WebhookCodec` is pure: it checks the pre-auth headers, verifies a request and parses
  it into :class:`~voicecall_cli.core.events.NormalizedEvent` values plus the reply body. It never
  does I/O and takes the time as an argument. Tested with recorded fixtures.
* :class:`CarrierClient` does the carrier's REST (or, for ``mock``, the simulated callee). It is
  opened as an async context manager that owns its HTTP client and background tasks and closes
  them on exit; its methods raise :class:`CarrierError` with a message that never holds secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from voicecall_cli.core.events import NormalizedEvent


class CarrierError(Exception):
    """A carrier operation failed (HTTP error, network error, refused request)."""


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One webhook delivery as the server received it. Header names are lower-case."""

    method: str
    url: str  # http://<Host header or localhost><path>?<query>
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    remote_addr: str | None


@dataclass(frozen=True, slots=True)
class Verification:
    """Outcome of :meth:`WebhookCodec.verify`: a request key when ok, else a reason."""

    ok: bool
    key: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class WebhookReply:
    """What the server answers and what the manager receives (unless the request is a replay)."""

    events: list[NormalizedEvent] = field(default_factory=list)
    status: int = 200
    body: bytes = b"OK"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/plain"})


class WebhookCodec(Protocol):
    name: str

    def has_auth_headers(self, headers: Mapping[str, str]) -> bool:
        """Pre-auth gate: the signature headers this carrier always sends are present."""

    def verify(self, request: WebhookRequest, now_ms: int) -> Verification:
        """Check the request's signature; the key identifies this exact delivery."""

    def parse(self, request: WebhookRequest, key: str, now_ms: int) -> WebhookReply:
        """Turn a verified request into events and the carrier's expected reply.

        Raises ``ValueError`` for a malformed body (the server answers 400).
        """


@dataclass(frozen=True, slots=True)
class PlaceCallRequest:
    call_id: str
    from_number: str
    to_number: str
    webhook_url: str
    mode: str  # "notify" | "conversation"
    message: str | None = None


@dataclass(frozen=True, slots=True)
class PlacedCall:
    provider_call_id: str
    status: str = "initiated"


@dataclass(frozen=True, slots=True)
class ProviderCallStatus:
    status: str
    is_terminal: bool
    is_unknown: bool = False


class CarrierClient(Protocol):
    """Optional capabilities, read with ``getattr(client, name, False)``:
    ``delivers_notify_message`` (the carrier speaks a notify call's message and hangs up by
    itself), ``greets_on_stream_start`` (conversation greetings wait for the media stream) and
    ``speak_and_listen(call_id, provider_call_id, text, turn_token)`` (say and listen in one
    step) and ``prepare_speech(call_id, provider_call_id, text)`` (synthesise the first words
    while the call rings)."""

    name: str

    async def place_call(self, request: PlaceCallRequest) -> PlacedCall: ...

    async def hangup(self, call_id: str, provider_call_id: str, reason: str) -> None: ...

    async def play(self, call_id: str, provider_call_id: str, text: str) -> None:
        """Speak ``text`` into the call; returns once the carrier accepted or finished it."""

    async def start_listening(self, call_id: str, provider_call_id: str,
                              turn_token: str | None) -> None: ...

    async def stop_listening(self, call_id: str, provider_call_id: str) -> None: ...

    async def get_call_status(self, provider_call_id: str) -> ProviderCallStatus: ...

    async def resume(self, call_id: str, provider_call_id: str, webhook_url: str) -> None:
        """A call restored after a daemon restart goes on; carriers that keep no state here
        do nothing."""
