"""What the Twilio adapter remembers about each live call (pure: no I/O, no clock).

One :class:`TwilioState` per daemon, shared by the webhook codec (which TwiML a webhook gets)
and the REST client (where a TwiML update redirects to, which ``<Say>`` finished). Media
streams are the daemon's (its stream registry), not kept here. Everything is keyed by the
CallSid except the notify TwiML, which is stored under our call id before Twilio has assigned
a CallSid.

Everything is in memory; after a daemon restart the REST client's ``resume`` re-remembers the
calls that go on. :meth:`TwilioState.forget` drops all of a call's entries, so a call that
ended leaves nothing behind. Not thread-safe: use it from the daemon's one trio thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class _StreamView(Protocol):
    def has_stream(self, provider_call_id: str) -> bool: ...


class TwilioState:
    """What the Twilio adapter remembers per call; shared by the codec (TwiML decisions) and
    the REST client. One per daemon."""

    def __init__(self) -> None:
        self._call_ids: dict[str, str] = {}  # CallSid -> our call id
        self._call_urls: dict[str, str] = {}  # CallSid -> webhook URL with ?callId=
        self._notify_twiml: dict[str, str] = {}  # call id -> TwiML not yet served
        self._notify_calls: set[str] = set()  # call ids placed in notify mode
        self._pending_gathers: dict[str, str | None] = {}  # CallSid -> turn token
        self._gather_accepts: dict[str, str] = {}  # CallSid -> what its turn accepts (keys)
        self._says: dict[str, tuple[str, Callable[[], None]]] = {}  # token -> (CallSid, on_done)
        self._held: dict[str, None] = {}  # CallSids in the hold queue, longest-waiting first
        self._connecting: set[str] = set()  # CallSids taken off hold, their stream not up yet

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
        self._gather_accepts.pop(call_sid, None)
        self._held.pop(call_sid, None)
        self._connecting.discard(call_sid)
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

    def set_pending_gather(self, call_sid: str, turn_token: str | None,
                           accept: str = "speech") -> None:
        """A turn is listening for the caller through ``<Gather>`` with this turn token;
        ``accept``: ``speech``, ``dtmf`` or ``both`` (see :meth:`gather_accept`)."""
        self._pending_gathers[call_sid] = turn_token
        self._gather_accepts[call_sid] = accept

    def gather_accept(self, call_sid: str) -> str:
        """What the call's listening turn accepts (``speech`` when none listens)."""
        return self._gather_accepts.get(call_sid, "speech")

    def pending_gather(self, call_sid: str) -> tuple[bool, str | None]:
        """(whether a turn is listening, its turn token)."""
        if call_sid in self._pending_gathers:
            return True, self._pending_gathers[call_sid]
        return False, None

    def clear_pending_gather(self, call_sid: str) -> None:
        """The listening turn is over (given up, or the call is being steered elsewhere)."""
        self._pending_gathers.pop(call_sid, None)

    def end_turn(self, call_sid: str, turn_token: str | None) -> bool:
        """A Gather callback carrying ``turn_token`` arrived: it ends the listening turn only
        when it is that turn's (same token; None matches a turn without one). A late callback
        of an older turn changes nothing and returns False."""
        if call_sid not in self._pending_gathers:
            return False
        if self._pending_gathers[call_sid] != turn_token:
            return False
        del self._pending_gathers[call_sid]
        return True

    # -- the hold queue ------------------------------------------------------------------------

    def hold(self, call_sid: str) -> None:
        """The inbound caller was put in the hold queue (at its end; a caller already in it
        keeps their place)."""
        self._held.setdefault(call_sid, None)

    def held(self) -> list[str]:
        """CallSids in the hold queue, longest-waiting first."""
        return list(self._held)

    def is_held(self, call_sid: str) -> bool:
        return call_sid in self._held

    def start_connecting(self, call_sid: str) -> None:
        """The caller leaves the hold queue for a stream (their REST redirect is on its way)."""
        self._held.pop(call_sid, None)
        self._connecting.add(call_sid)

    def hold_first(self, call_sid: str) -> None:
        """Connecting failed: the caller waits again, first in line."""
        self._connecting.discard(call_sid)
        self._held = {call_sid: None, **self._held}

    def connected(self, call_sid: str) -> None:
        """The caller taken off hold got their stream TwiML: the slot is theirs now."""
        self._connecting.discard(call_sid)

    def queue_ahead(self, streams: _StreamView) -> bool:
        """Whether a new inbound caller must wait behind others: someone is held, or a caller
        taken off hold has not been given their stream yet (their slot is promised)."""
        self._connecting = {sid for sid in self._connecting if not streams.has_stream(sid)}
        return bool(self._held or self._connecting)
