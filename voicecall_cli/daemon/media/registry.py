"""The daemon's media-stream registry: stream tokens, the live stream of each call, and the
``streaming.maxInboundStreams`` rule.

Providers read it through the :class:`~voicecall_cli.providers.base.Streams` view (the token
to put in stream TwiML/XML, whether a call streams, whether an inbound caller may stream now or
waits on hold); the media endpoint adds and removes streams.

Stream tokens are single-use and short-lived, so a captured or replayed webhook reply (the
webhook replay cache answers a genuine carrier retry with the first reply, token included)
never yields a token that still opens a stream:

* a token is the HMAC of (token subject, mint counter) under a secret drawn when the daemon
  starts: it cannot be guessed, no two mints give the same token, and no token from an
  earlier daemon run is accepted;
* :meth:`StreamRegistry.token` hands out the subject's newest unspent token while it is young
  (younger than half of ``token_ttl_s``), so every reply for a call (a retry, the TwiML fetched
  again) names the same token; otherwise it mints a new one;
* a token expires ``token_ttl_s`` after it was minted, :data:`TOKEN_TTL_S` = 180 s by default:
  enough for Telnyx, which gets the token when it dials and starts the stream only once the
  callee answers (its ring timeout is at most 120 s); Twilio and Plivo start their stream
  within a second of our reply;
* :meth:`StreamRegistry.spend_token` (the endpoint calls it when it accepts a stream's start)
  kills every token minted so far for that subject: a stream for the call is up, and a new
  stream needs a token minted from now on (TwiML fetched again mints one).

Inbound stream slots (``streaming.maxInboundStreams``) are taken when they are handed out, not
when the carrier gets round to connecting: ``token(call, inbound=True)`` (the provider's reply
that gives an inbound caller a stream) *reserves* a slot for the call, so a second caller whose
webhook arrives before the first stream's ``start`` is held instead of slipping past the limit.
The reservation becomes the live stream when the stream starts (:meth:`StreamRegistry.spend_token`
then :meth:`StreamRegistry.add`), and is released when every token of the call expired unspent,
when the call ends (:meth:`StreamRegistry.release`) or, once it is a stream, when the stream
stops. Each release of a reservation calls ``on_release`` (the daemon wakes the hold queue
with it; an expiry is noticed at the next look at the registry, which the hold queue takes
every few seconds while callers wait).

Expired and spent tokens are forgotten, so the registry holds only tokens still usable: at most
a few per call that is about to stream. Time comes from ``clock`` (default: the monotonic
clock, whichever thread asks).

Not thread-safe: used from the daemon's one trio thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicecall_cli.daemon.media.playback import Playback

TOKEN_TTL_S = 180.0


@dataclass(eq=False)
class Stream:
    """A started media stream: the call it carries, its playback, and whether it is inbound."""

    provider_call_id: str
    stream_id: str
    playback: Playback
    inbound: bool = False
    ended: bool = False
    stop: Callable[[], None] | None = None  # ends it and closes its socket (the endpoint's)


class StreamRegistry:
    """Implements :class:`~voicecall_cli.providers.base.Streams` (see the module docstring)."""

    def __init__(self, *, max_inbound_streams: int = 1, secret: bytes | None = None,
                 token_ttl_s: float = TOKEN_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_inbound_streams < 1:
            raise ValueError("max_inbound_streams must be at least 1")
        if token_ttl_s <= 0:
            raise ValueError("token_ttl_s must be positive")
        self.max_inbound_streams = max_inbound_streams
        self.token_ttl_s = token_ttl_s
        self._clock = clock
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._minted = 0
        # subject -> {token: expiry}, newest last; and every mint in order, to forget expiries
        self._tokens: dict[str, dict[str, float]] = {}
        self._expiries: deque[tuple[float, str, str]] = deque()
        self._streams: dict[str, Stream] = {}  # provider call id -> its current stream
        self._reserved: set[str] = set()  # token subjects holding an inbound slot, no stream yet
        # called (with no argument) whenever a reservation is released; the owner sets it
        self.on_release: Callable[[], None] = lambda: None

    # -- the providers' view -----------------------------------------------------------------

    def token(self, provider_call_id: str, *, inbound: bool = False) -> str:
        """The token a stream for this call (the token subject) must present: the newest
        unspent one while young, else a new one (module docstring). ``inbound``: the token
        is handed to an inbound caller, whose call holds an inbound slot from now on."""
        now = self._clock()
        self._forget_expired(now)
        token = self._young_token(provider_call_id, now)
        if token is None:
            token = self._mint(provider_call_id)
            self._tokens.setdefault(provider_call_id, {})[token] = now + self.token_ttl_s
            self._expiries.append((now + self.token_ttl_s, provider_call_id, token))
        if inbound and provider_call_id not in self._streams:  # a live stream has its slot
            self._reserved.add(provider_call_id)
        return token

    def has_stream(self, provider_call_id: str) -> bool:
        return provider_call_id in self._streams

    def admits_inbound(self) -> bool:
        """Whether an inbound slot is free: live inbound streams and reservations (inbound
        callers handed a stream that has not started yet) take one each."""
        self._forget_expired(self._clock())
        return self.inbound_slots_taken() < self.max_inbound_streams

    def inbound_slots_taken(self) -> int:
        inbound = {pid for pid, stream in self._streams.items() if stream.inbound}
        return len(inbound) + len(self._reserved - inbound)

    def release(self, provider_call_id: str) -> None:
        """The call (a token subject) ended: its tokens die and its reservation, if any, is
        released. A live stream is not touched (its socket's end removes it)."""
        self._tokens.pop(provider_call_id, None)
        self._unreserve(provider_call_id)

    def end(self, provider_call_id: str, stream_id: str | None = None) -> None:
        stream = self._streams.get(provider_call_id)
        if stream is None or stream.stop is None or stream.ended:
            return
        if stream_id is None or stream_id == stream.stream_id:
            stream.stop()

    # -- the endpoint's side ---------------------------------------------------------------------

    def check_token(self, provider_call_id: str, token: str | None) -> bool:
        """Whether ``token`` is an unspent, unexpired token of the subject (constant-time
        comparison with each of them)."""
        if not token:
            return False
        self._forget_expired(self._clock())
        presented = token.encode("utf-8", "surrogatepass")
        found = False
        for candidate in self._tokens.get(provider_call_id, {}):
            found |= hmac.compare_digest(candidate.encode(), presented)
        return found

    def spend_token(self, provider_call_id: str) -> None:
        """A stream for the subject was accepted: every token minted for it so far is dead,
        and its reservation becomes that stream (the caller must :meth:`add` it right away,
        in the same step, so the slot is never seen free)."""
        self._tokens.pop(provider_call_id, None)
        self._reserved.discard(provider_call_id)

    def current(self, provider_call_id: str) -> Stream | None:
        return self._streams.get(provider_call_id)

    def add(self, stream: Stream) -> None:
        """The call's stream from now on (replacing an earlier one)."""
        self._streams[stream.provider_call_id] = stream

    def remove(self, stream: Stream) -> bool:
        """Drop ``stream``; False (nothing changed) when the call has a newer one."""
        if self._streams.get(stream.provider_call_id) is not stream:
            return False
        del self._streams[stream.provider_call_id]
        return True

    # -- tokens ----------------------------------------------------------------------------------

    def _young_token(self, subject: str, now: float) -> str | None:
        live = self._tokens.get(subject)
        if live:
            newest, expiry = next(reversed(live.items()))
            if expiry - now > self.token_ttl_s / 2:
                return newest
        return None

    def _unreserve(self, subject: str) -> None:
        if subject in self._reserved:
            self._reserved.discard(subject)
            self.on_release()

    def _mint(self, subject: str) -> str:
        # surrogatepass: ids come off the network, and a lone surrogate must not raise here
        message = subject.encode("utf-8", "surrogatepass") + b"\0" + str(self._minted).encode()
        self._minted += 1
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")

    def _forget_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            _, subject, token = self._expiries.popleft()
            live = self._tokens.get(subject)
            if live is not None:
                live.pop(token, None)
                if not live:
                    del self._tokens[subject]
                    self._unreserve(subject)  # handed out, never used
