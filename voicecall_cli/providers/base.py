"""The shape every provider plug-in has (DESIGN section 6).

A provider package (``providers/<name>/``) exports one :class:`ProviderSpec` named ``PROVIDER``.
The daemon finds it through :mod:`voicecall_cli.providers.registry` and enters
``PROVIDER.open(config, endpoints, streams)``, an async context manager that yields a
:class:`Provider` bundle:

* ``client`` (a :class:`ProviderClient`): the provider's REST operations (for ``mock``, the
  simulated callee). It owns its HTTP client and background tasks, which close when ``open``
  exits. Its methods raise :class:`ProviderError` with a message that never holds secrets.
* ``webhooks`` (a :class:`WebhookCodec`): pure. It checks the pre-auth headers, verifies a
  request and parses it into :class:`~voicecall_cli.core.events.NormalizedEvent` values plus
  the reply body. It never does I/O and takes the time as an argument.
* ``media`` (a :class:`~voicecall_cli.providers.media_codec.MediaCodec`, or None): pure framing
  of the provider's media-stream websocket. The daemon owns the sockets, pacing, the stream
  registry, tokens and limits.
* ``capabilities``: what the provider can do, declared, never probed.

What a provider reads of the daemon comes in as two read-only views: :class:`Endpoints` (the
URLs the daemon is reachable at; they may change at run time) and :class:`Streams` (the
daemon's media-stream registry). Whether speech goes into a live stream or through the
provider's own text-to-speech is the daemon's decision, not the client's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from voicecall_cli.core.events import NormalizedEvent
from voicecall_cli.providers.media_codec import MediaCodec


class ProviderError(Exception):
    """A provider operation failed (HTTP error, network error, refused request)."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider can do, declared by its package.

    ``native_notify``: a notify call's message is spoken by the provider itself, which then
    hangs up (Twilio's notify TwiML), so the daemon neither speaks nor hangs up.
    ``speak_and_listen``: one command says a prompt and listens for the answer
    (:meth:`ProviderClient.speak_and_listen`), so listening never cuts the prompt short.
    ``media``: bidirectional media streams (``media`` codec present); used when
    ``streaming.enabled``.
    ``answer_inbound``: an accepted inbound call must be answered explicitly
    (:meth:`ProviderClient.answer`).
    ``recording``: the carrier records an answered call on request
    (:meth:`ProviderClient.start_recording`) and reports the recording by webhook, as a
    ``call.recording`` event.
    ``machine_detection``: outbound calls can ask for answering-machine detection
    (:attr:`PlaceCallRequest.machine_detection`); its result arrives as ``call.answered_by``
    events, and with ``voicemail`` a machine's greeting-ended event follows (the beep).
    ``dtmf``: touch tones are sent into calls (:meth:`ProviderClient.send_dtmf`) and the keys
    callers press arrive as ``call.dtmf`` events, also in a listening turn that accepts them.
    """

    native_notify: bool = False
    speak_and_listen: bool = False
    media: bool = False
    answer_inbound: bool = False
    recording: bool = False
    machine_detection: bool = False
    dtmf: bool = False


class Endpoints(Protocol):
    """Where the daemon is reachable; owned by the daemon, read by providers at each use.

    ``webhook_url``: the URL the provider is told to send webhooks to (the public URL when
    there is one, else the local one); None until the webhook server listens.
    ``signed_url``: the URL a provider that signs URLs signed, or None when it must be
    reconstructed from each request (trusted forwarding headers).
    ``stream_url``: the ``wss://`` (or ``ws://``) URL of the media-stream endpoint; None when
    streaming is off or the URL is not known yet.
    """

    @property
    def webhook_url(self) -> str | None: ...

    @property
    def signed_url(self) -> str | None: ...

    @property
    def stream_url(self) -> str | None: ...


class Streams(Protocol):
    """The daemon's media-stream registry, as a provider may read it."""

    #: Called (no argument) when an inbound slot taken by :meth:`token` frees without a
    #: stream (its tokens expired unused, or :meth:`release`); the daemon's hold queue sets it.
    on_release: Callable[[], None]

    def token(self, provider_call_id: str, *, inbound: bool = False) -> str:
        """The token a stream for this call must present. Every reply for the call names the
        same one until a stream for the call starts (which spends it) or it ages; it expires
        if no stream starts soon enough (the daemon's registry says how long).
        ``inbound=True`` (the reply hands an inbound caller their stream): the call takes an
        inbound stream slot now, before the carrier connects the stream, so
        :meth:`admits_inbound` counts it at once; the slot is the call's until its tokens
        expire unused, the call ends, or its stream stops."""

    def has_stream(self, provider_call_id: str) -> bool:
        """Whether a media stream is live for the call."""

    def admits_inbound(self) -> bool:
        """Whether an inbound call may start a stream now (``streaming.maxInboundStreams``);
        when not, the provider puts the caller on hold."""

    def release(self, provider_call_id: str) -> None:
        """The call ended: its tokens die and a slot it holds without a stream is free again.
        (The daemon calls this; providers need not.)"""

    def end(self, provider_call_id: str, stream_id: str | None = None) -> None:
        """The provider reported, out of band, that the call's stream (``stream_id``, or
        whichever it has) is over (Plivo's StopStream callback): the daemon ends it as if its
        socket had closed. Nothing happens for a call without that stream."""


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
    """Outcome of :meth:`WebhookCodec.verify`: a request key when ok, else a reason.
    ``url``: the URL the signature was checked against, for providers that sign URLs
    (``doctor`` shows it beside the URL the request names)."""

    ok: bool
    key: str | None = None
    reason: str | None = None
    url: str | None = None


@dataclass(slots=True)
class WebhookReply:
    """What the server answers and what the manager receives (unless the request is a replay)."""

    events: list[NormalizedEvent] = field(default_factory=list)
    status: int = 200
    body: bytes = b"OK"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/plain"})


@dataclass(frozen=True, slots=True)
class StaticPage:
    """A fixed document the webhook server answers at ``path`` (any method, no auth)."""

    path: str
    content_type: str
    body: bytes


class WebhookCodec(Protocol):
    name: str
    #: Documents the provider fetches from us without signing (Twilio's hold music).
    static_pages: tuple[StaticPage, ...]

    def has_auth_headers(self, headers: Mapping[str, str]) -> bool:
        """Pre-auth gate: the signature headers this provider always sends are present."""

    def verify(self, request: WebhookRequest, now_ms: int) -> Verification:
        """Check the request's signature; the key identifies this exact delivery."""

    def parse(self, request: WebhookRequest, key: str, now_ms: int) -> WebhookReply:
        """Turn a verified request into events and the provider's expected reply.

        Raises ``ValueError`` for a malformed body (the server answers 400).
        """

    def sign_probe(self, url: str, body: bytes) -> dict[str, str] | None:
        """Headers that make a POST of the form ``body`` to ``url`` pass :meth:`verify` as
        the carrier's own request would (``doctor`` probes its public URL with it), or None
        when only the carrier can sign (a private key we do not hold)."""


@dataclass(frozen=True, slots=True)
class PlaceCallRequest:
    call_id: str
    from_number: str
    to_number: str
    mode: str  # "notify" | "conversation"
    message: str | None = None
    # answering-machine detection: "off" | "detect" | "voicemail" (wait for the greeting's
    # end: the notify message is then spoken by the daemon, not by a native notify document)
    machine_detection: str = "off"


@dataclass(frozen=True, slots=True)
class PlacedCall:
    provider_call_id: str
    status: str = "initiated"


@dataclass(frozen=True, slots=True)
class ProviderCallStatus:
    """A call's status as the provider reports it, normalised.

    ``state`` is "ended" when the provider says the call is over (a call it no longer knows
    counts as ended), "unknown" when it could not be asked (network, server error), else "live"
    (ringing, talking, or a status word we do not know: reference 3.2 keeps such calls).
    ``end_reason`` (for "ended") is one of the core end reasons (``completed``, ``busy``,
    ``no-answer``, ``failed``, ``hangup-bot``, ...); ``raw`` is the provider's own word, for
    logs.
    """

    state: Literal["live", "ended", "unknown"]
    end_reason: str | None = None
    raw: str = ""

    @property
    def is_terminal(self) -> bool:
        return self.state == "ended"


class ProviderClient:
    """A provider's operations on calls. Subclasses implement the abstract ones and, when
    they declare the capability, :meth:`speak_and_listen` and :meth:`answer`.

    Every method is async and takes the daemon's call id and the provider's call id. On
    cancellation a method abandons its request at once (the provider may or may not have
    acted on it). Failures raise :class:`ProviderError`.
    """

    name: str = ""

    async def place_call(self, request: PlaceCallRequest) -> PlacedCall:
        """Dial; returns once the provider accepted the call (its events follow as
        webhooks to ``endpoints.webhook_url``)."""
        raise NotImplementedError

    async def hangup(self, call_id: str, provider_call_id: str, reason: str) -> None:
        """End the call; a call the provider already ended is not an error."""
        raise NotImplementedError

    async def speak(self, call_id: str, provider_call_id: str, text: str) -> None:
        """Say ``text`` with the provider's own voice; returns once it has been said (as far
        as the provider reports it, else after a bounded estimate of its length)."""
        raise NotImplementedError

    async def speak_and_listen(self, call_id: str, provider_call_id: str, text: str,
                               turn_token: str | None, *, accept: str = "speech") -> None:
        """Say ``text`` and listen for the reply in one command (``speak_and_listen``
        capability); returns once the command was accepted. The reply arrives as a speech
        event carrying ``turn_token`` (or, with ``accept`` ``dtmf``/``both``, as the keys the
        caller pressed: a ``call.dtmf`` event)."""
        raise ProviderError(f"{self.name}: speaking and listening in one command is "
                            "not supported")

    async def start_listening(self, call_id: str, provider_call_id: str,
                              turn_token: str | None, *, accept: str = "speech") -> None:
        """Listen for the caller (provider speech recognition); returns once listening was
        requested. What the caller says arrives as speech events carrying ``turn_token``;
        ``accept`` (``speech``, ``dtmf`` or ``both``): whether keys the caller presses answer
        the turn too (a provider that collects input per turn asks for them)."""
        raise NotImplementedError

    async def send_dtmf(self, call_id: str, provider_call_id: str, digits: str) -> None:
        """Play touch tones into the call (``dtmf`` capability); ``digits`` holds 0-9, ``*``,
        ``#`` and ``w``/``W`` (pause half a second / one second), already checked. Returns
        once the carrier accepted them; the call then goes on as before."""
        raise ProviderError(f"{self.name}: sending touch tones is not supported")

    async def stop_listening(self, call_id: str, provider_call_id: str) -> None:
        """Stop listening; best effort, never raises for a call that is gone."""
        raise NotImplementedError

    async def answer(self, call_id: str, provider_call_id: str) -> None:
        """Answer an accepted inbound call (``answer_inbound`` capability)."""
        raise ProviderError(f"{self.name}: inbound calls are answered by the webhook reply")

    async def start_recording(self, call_id: str, provider_call_id: str) -> None:
        """Have the carrier record the answered call, both parties (in two channels where the
        carrier offers it), until it ends (``recording`` capability); returns once the carrier
        accepted. The recording's URL and duration arrive later (usually after the hang-up)
        as a webhook the codec turns into a ``call.recording`` event."""
        raise ProviderError(f"{self.name}: call recording is not supported")

    async def await_greeting_end(self, call_id: str, provider_call_id: str) -> None:
        """A machine answered a ``voicemail`` call: have the carrier report the end of its
        greeting (a ``call.answered_by`` event with ``greeting_ended``). Carriers that report
        it by themselves once asked at dial time do nothing."""

    async def get_call_status(self, provider_call_id: str) -> ProviderCallStatus:
        """The call's status, normalised; never raises (a failure is ``state="unknown"``)."""
        raise NotImplementedError

    async def resume(self, call_id: str, provider_call_id: str) -> None:
        """A call restored after a daemon restart goes on; providers that keep no state about
        calls do nothing."""

    # -- the hold queue (inbound callers waiting for a stream slot) ------------------------------

    def held_calls(self) -> list[str]:
        """Provider call ids of the inbound callers this provider's webhook replies put on
        hold (every inbound stream slot was taken), longest-waiting first. A caller who hangs
        up while waiting leaves the list. Providers that never hold anyone: empty."""
        return []

    async def connect_held(self, call_id: str, provider_call_id: str) -> bool:
        """Take a held caller off hold and connect them to a media stream now (the daemon
        calls it when a stream slot is free, longest-waiting caller first). Returns True once
        the carrier accepted it (the stream follows), False when the caller turned out to be
        gone (they left the list). Raises :class:`ProviderError` for any other failure; the
        caller then stays first in line."""
        raise ProviderError(f"{self.name}: no inbound callers are held")

    # -- daemon reload ---------------------------------------------------------------------------

    def reconfigure(self, config: ProviderConfig) -> Callable[[], None]:
        """Prepare what of a reloaded ``config`` this client takes on while it runs (keys that
        ``core.config.reloadable`` classifies as applying) and return the function that switches
        it in; the daemon calls it with no ``await`` in between, with the rest of the reload.
        Raises ``ValueError`` naming the key for a setting it cannot use (nothing changes then).
        A client built once from the config (credentials, voices): nothing to switch."""
        return lambda: None


class ProviderConfig(Protocol):
    """What a provider reads of the validated configuration."""

    provider: str
    serve_bind: str
    data: Mapping[str, Any]

    def get(self, dotted: str) -> Any: ...


def ring_timeout_seconds(config: ProviderConfig) -> int:
    """``ringTimeoutMs`` as the whole seconds a carrier lets a dial ring (at least 1)."""
    return max(1, int(config.get("ringTimeoutMs")) // 1000)


@dataclass(frozen=True, slots=True)
class Provider:
    """An opened provider (see the module docstring)."""

    name: str
    client: ProviderClient
    webhooks: WebhookCodec
    capabilities: Capabilities
    media: MediaCodec | None = None


Opener = Callable[[ProviderConfig, Endpoints, Streams],
                  AbstractAsyncContextManager[Provider]]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What a provider package exports as ``PROVIDER``.

    ``open(config, endpoints, streams)`` opens the provider for one daemon run; everything it
    opens (HTTP clients, tasks) closes when the context exits.
    """

    name: str
    capabilities: Capabilities
    open: Opener

