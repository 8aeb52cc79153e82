"""What the Twilio adapter remembers about each live call (pure: no I/O, no clock).

One :class:`TwilioState` per daemon, shared by the webhook codec (which TwiML a webhook gets),
the REST client (where a TwiML update redirects to, whether a stream is playing) and the media
streams (token check, stream registry). Everything is keyed by the CallSid except the notify
TwiML, which is stored under our call id before Twilio has assigned a CallSid.

Everything is in memory; after a daemon restart the REST client's ``resume`` re-remembers the
calls that go on. :meth:`TwilioState.forget` drops all of a call's entries, so a call that
ended leaves nothing behind. Not thread-safe: use it from the daemon's one trio thread.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Stream:
    stream_sid: str
    inbound: bool


class TwilioState:
    """What the Twilio adapter remembers per call; shared by the codec (TwiML decisions) and
    the REST client. One per daemon.

    ``stream_url`` is ``wss://<public host><streamPath>`` when media streaming is on, else None
    (the daemon may set it once the public URL is known). ``max_inbound_streams`` inbound
    streams may run at once; further inbound callers are queued behind hold music.
    """

    def __init__(self, *, stream_url: str | None = None, max_inbound_streams: int = 1) -> None:
        if max_inbound_streams < 1:
            raise ValueError("max_inbound_streams must be at least 1")
        self.stream_url = stream_url
        self.max_inbound_streams = max_inbound_streams
        self._call_ids: dict[str, str] = {}  # CallSid -> our call id
        self._call_urls: dict[str, str] = {}  # CallSid -> webhook URL with ?callId=
        self._notify_twiml: dict[str, str] = {}  # call id -> TwiML not yet served
        self._notify_calls: set[str] = set()  # call ids placed in notify mode
        self._pending_gathers: dict[str, str | None] = {}  # CallSid -> turn token
        self._stream_tokens: dict[str, str] = {}  # CallSid -> media-stream token
        self._streams: dict[str, _Stream] = {}  # CallSid -> the current media stream
        self._says: dict[str, tuple[str, Callable[[], None]]] = {}  # token -> (CallSid, on_done)

    # -- calls ---------------------------------------------------------------------------------

    def remember_call(self, call_id: str, call_sid: str, call_url: str) -> None:
        """Record the call's webhook URL (already carrying ``?callId=<call_id>``)."""
        self._call_ids[call_sid] = call_id
        self._call_urls[call_sid] = call_url

    def call_url(self, call_sid: str) -> str | None:
        """The webhook URL with ``?callId=<call id>`` that TwiML updates redirect back to."""
        return self._call_urls.get(call_sid)

    def forget(self, call_sid: str) -> None:
        """The call ended (terminal status or hang-up): drop everything kept for it."""
        call_id = self._call_ids.pop(call_sid, None)
        if call_id is not None:
            self._notify_twiml.pop(call_id, None)
            self._notify_calls.discard(call_id)
        self._call_urls.pop(call_sid, None)
        self._pending_gathers.pop(call_sid, None)
        self._stream_tokens.pop(call_sid, None)
        self._streams.pop(call_sid, None)
        for token in [t for t, (sid, _) in self._says.items() if sid == call_sid]:
            self.say_finished(token)  # nobody will hear the rest: release the waiter

    # -- speech progress -----------------------------------------------------------------------

    def expect_say(self, call_sid: str, token: str, on_done: Callable[[], None]) -> None:
        """A ``<Say>`` whose Redirect carries ``sayDone=<token>`` was sent; ``on_done`` runs
        when Twilio comes back (the speech finished) or the call is forgotten."""
        self._says[token] = (call_sid, on_done)

    def say_finished(self, token: str) -> None:
        entry = self._says.pop(token, None)
        if entry is not None:
            entry[1]()

    # -- notify mode ---------------------------------------------------------------------------

    def store_notify_twiml(self, call_id: str, twiml: str) -> None:
        """Keep the notify call's TwiML for its first answer webhook; flags the call notify."""
        self._notify_twiml[call_id] = twiml
        self._notify_calls.add(call_id)

    def take_notify_twiml(self, call_id: str) -> str | None:
        """The stored notify TwiML, once; None afterwards (the call stays flagged notify)."""
        return self._notify_twiml.pop(call_id, None)

    def is_notify(self, call_id: str) -> bool:
        return call_id in self._notify_calls

    # -- listening turns (Gather without a media stream) ----------------------------------------

    def set_pending_gather(self, call_sid: str, turn_token: str | None) -> None:
        """A turn is listening for the caller through ``<Gather>`` with this turn token."""
        self._pending_gathers[call_sid] = turn_token

    def pending_gather(self, call_sid: str) -> tuple[bool, str | None]:
        """(whether a turn is listening, its turn token)."""
        if call_sid in self._pending_gathers:
            return True, self._pending_gathers[call_sid]
        return False, None

    def clear_pending_gather(self, call_sid: str) -> None:
        self._pending_gathers.pop(call_sid, None)

    # -- media streams -------------------------------------------------------------------------

    def stream_token(self, call_sid: str) -> str:
        """The call's media-stream token: 16 random bytes, base64url; minted once, then reused."""
        token = self._stream_tokens.get(call_sid)
        if token is None:
            token = self._stream_tokens[call_sid] = secrets.token_urlsafe(16)
        return token

    def check_stream_token(self, call_sid: str, token: str | None) -> bool:
        """Whether ``token`` is the one minted for ``call_sid`` (constant-time comparison)."""
        expected = self._stream_tokens.get(call_sid)
        if expected is None or token is None:
            return False
        return hmac.compare_digest(expected.encode(), token.encode())

    def register_stream(self, call_sid: str, stream_sid: str, inbound: bool) -> None:
        """A media stream started for the call (replacing any earlier one)."""
        self._streams[call_sid] = _Stream(stream_sid, inbound)

    def unregister_stream(self, call_sid: str, stream_sid: str | None = None) -> bool:
        """Drop the call's stream; False (nothing changed) when none is registered or
        ``stream_sid`` names an older stream than the current one."""
        current = self._streams.get(call_sid)
        if current is None or (stream_sid is not None and stream_sid != current.stream_sid):
            return False
        del self._streams[call_sid]
        return True

    def stream_sid(self, call_sid: str) -> str | None:
        current = self._streams.get(call_sid)
        return current.stream_sid if current else None

    def active_inbound_streams(self) -> int:
        return sum(1 for stream in self._streams.values() if stream.inbound)
