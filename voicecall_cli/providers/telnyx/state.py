"""What the Telnyx adapter keeps between its REST client and its webhook codec (pure: no I/O,
no clock), and the ``client_state`` it round-trips through Telnyx.

``client_state`` is how a Telnyx webhook names our call: every command may set it (base64, at
most a few KB) and Telnyx copies the newest value into every later webhook and into the media
stream's ``start``. We set it to our call id, and while a turn listens through Telnyx's
transcription to ``"<call id>|<turn token>"``, so a transcript names the turn it answers and a
late one cannot answer a newer turn.

:class:`TelnyxState` holds the ``speak`` commands waiting for ``call.speak.ended`` (Telnyx's
webhooks do not say which command they finish: a call's speeches end in the order they were
sent). :meth:`TelnyxState.forget` releases every waiter of a call that ended. One per daemon;
not thread-safe (the daemon's one trio thread).
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict, deque
from collections.abc import Callable

_TURN_SEPARATOR = "|"
SEEN_SPEAK_ENDS = 4096  # event ids of call.speak.ended remembered, so a re-delivery counts once


def encode_client_state(call_id: str, turn_token: str | None = None) -> str:
    text = call_id if not turn_token else f"{call_id}{_TURN_SEPARATOR}{turn_token}"
    return base64.b64encode(text.encode()).decode("ascii")


def decode_client_state(value: object) -> tuple[str | None, str | None]:
    """(call id, turn token) from a webhook's ``client_state``; (None, None) when absent.

    A value that is not base64 of UTF-8 text is taken as the call id itself (reference 4.2)."""
    if not isinstance(value, str) or not value:
        return None, None
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return value, None
    call_id, _, turn_token = text.partition(_TURN_SEPARATOR)
    return (call_id or None), (turn_token or None)


class TelnyxState:
    """Speech in progress per call (see the module docstring)."""

    def __init__(self) -> None:
        self._speaking: dict[str, deque[Callable[[], None]]] = {}
        self._seen_speak_ends: OrderedDict[str, None] = OrderedDict()
        self._held: dict[str, str] = {}  # call_control_id -> call id, longest-waiting first
        self._connecting: set[str] = set()  # taken off hold, streaming_start on its way

    def expect_speak_end(self, call_control_id: str, on_done: Callable[[], None]) -> None:
        """A ``speak`` was sent; ``on_done`` runs at its ``call.speak.ended`` (or when the call
        is forgotten)."""
        self._speaking.setdefault(call_control_id, deque()).append(on_done)

    def withdraw(self, call_control_id: str, on_done: Callable[[], None]) -> None:
        """The waiter gave up (timeout, cancellation, a refused command)."""
        waiters = self._speaking.get(call_control_id)
        if waiters is None:
            return
        try:
            waiters.remove(on_done)
        except ValueError:
            return
        if not waiters:
            del self._speaking[call_control_id]

    def speak_ended(self, call_control_id: str, event_id: str | None = None) -> None:
        """``call.speak.ended``: the call's oldest speech finished. Telnyx may deliver the same
        event (``event_id``) twice; only the first delivery counts."""
        if event_id:
            if event_id in self._seen_speak_ends:
                return
            self._seen_speak_ends[event_id] = None
            if len(self._seen_speak_ends) > SEEN_SPEAK_ENDS:
                self._seen_speak_ends.popitem(last=False)
        waiters = self._speaking.get(call_control_id)
        if waiters:
            done = waiters.popleft()
            if not waiters:
                del self._speaking[call_control_id]
            done()

    # -- inbound callers on hold ---------------------------------------------------------------

    def hold(self, call_control_id: str, call_id: str) -> None:
        """The caller was answered without a stream and waits (at the end of the line; a
        caller already waiting keeps their place)."""
        self._held.setdefault(call_control_id, call_id)

    def held(self) -> list[str]:
        return list(self._held)

    def start_connecting(self, call_control_id: str) -> None:
        self._held.pop(call_control_id, None)
        self._connecting.add(call_control_id)

    def connected(self, call_control_id: str) -> None:
        self._connecting.discard(call_control_id)

    def hold_first(self, call_control_id: str, call_id: str) -> None:
        """Connecting failed: the caller waits again, first in line."""
        self._connecting.discard(call_control_id)
        self._held = {call_control_id: call_id, **self._held}

    def queue_ahead(self) -> bool:
        """Whether a new inbound caller must wait behind others."""
        return bool(self._held or self._connecting)

    def forget(self, call_control_id: str) -> None:
        """The call ended: nobody will hear the rest, release every waiter."""
        self._held.pop(call_control_id, None)
        self._connecting.discard(call_control_id)
        for done in self._speaking.pop(call_control_id, ()):
            done()
