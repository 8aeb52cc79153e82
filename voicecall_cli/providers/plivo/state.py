"""What the Plivo adapter remembers about each live call (pure: no I/O, no clock).

One :class:`PlivoState` per daemon, shared by the webhook codec (which XML a fetch gets) and
the REST client (what a transfer will find when Plivo fetches our document). Plivo steers a
live call by transferring it to a URL of ours: the client records what the call should do
(say a text, listen for a turn), transfers, and the codec serves it when Plivo asks.

Keys: a placed call is known by its RequestUUID until its first webhook names its CallUUID
(:meth:`PlivoState.bind`); everything per call is keyed by the CallUUID, except the notify
XML, kept under our call id before Plivo assigned anything.

Everything is in memory; after a daemon restart the client's ``resume`` re-remembers the calls
that go on. :meth:`PlivoState.forget` drops all of a call's entries (a waiting speech is
released), so an ended call leaves nothing behind. Not thread-safe: the daemon's one trio
thread uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PendingSpeech:
    """A ``<Speak>`` the call fetches next; ``token`` names it in the Redirect that says it
    was heard."""

    text: str
    token: str


@dataclass(frozen=True, slots=True)
class PendingListen:
    """The call listens for a turn (``turn_token``); ``prompt`` is said inside the first
    ``<GetInput>`` only; ``accept``: whether keys answer it too."""

    turn_token: str | None
    prompt: str | None = None
    accept: str = "speech"  # what answers the turn: speech, dtmf or both


class PlivoState:
    """Per-call memory of the Plivo adapter (see the module docstring)."""

    def __init__(self) -> None:
        self._call_ids: dict[str, str] = {}  # CallUUID (or RequestUUID until bound) -> call id
        self._placed: set[str] = set()  # RequestUUIDs of the calls we placed
        self._call_uuids: dict[str, str] = {}  # RequestUUID -> CallUUID
        self._requests: dict[str, str] = {}  # CallUUID -> RequestUUID
        self._notify_xml: dict[str, str] = {}  # call id -> XML not yet served
        self._notify_calls: set[str] = set()  # call ids placed in notify mode
        self._speeches: dict[str, PendingSpeech] = {}  # CallUUID -> next <Speak>
        self._listens: dict[str, PendingListen] = {}  # CallUUID -> listening turn
        self._heard: dict[str, tuple[str, Callable[[], None]]] = {}  # token -> (uuid, on_done)
        self._on_hold: dict[str, None] = {}  # inbound CallUUIDs on hold, longest-waiting first
        self._connecting: set[str] = set()  # taken off hold, their stream not given yet

    # -- calls ---------------------------------------------------------------------------------

    def placed(self, call_id: str, request_uuid: str) -> None:
        """Plivo accepted our call ``call_id`` as ``request_uuid``."""
        self._placed.add(request_uuid)
        self._call_ids[request_uuid] = call_id

    def remember_call(self, call_id: str, call_uuid: str) -> None:
        self._call_ids.setdefault(call_uuid, call_id)

    def call_id(self, call_uuid: str) -> str | None:
        return self._call_ids.get(call_uuid)

    def bind(self, request_uuid: str, call_uuid: str) -> None:
        """The placed call ``request_uuid`` is Plivo's call ``call_uuid`` from now on."""
        if request_uuid in self._placed and call_uuid and request_uuid != call_uuid:
            self._call_uuids[request_uuid] = call_uuid
            self._requests[call_uuid] = request_uuid
            call_id = self._call_ids.pop(request_uuid, None)
            if call_id is not None:
                self._call_ids.setdefault(call_uuid, call_id)

    def call_uuid(self, provider_call_id: str) -> str | None:
        """The CallUUID of a call known by either id; None while only the RequestUUID of a
        call we placed is known (it has not rung yet)."""
        if provider_call_id in self._call_uuids:
            return self._call_uuids[provider_call_id]
        return None if provider_call_id in self._placed else provider_call_id

    def forget(self, provider_call_id: str) -> None:
        """The call ended: drop everything kept for it, under either of its ids."""
        call_uuid = self._call_uuids.get(provider_call_id, provider_call_id)
        request_uuid = self._requests.pop(call_uuid, None)
        for key in {call_uuid, provider_call_id, request_uuid} - {None}:
            assert key is not None
            call_id = self._call_ids.pop(key, None)
            if call_id is not None:
                self._notify_xml.pop(call_id, None)
                self._notify_calls.discard(call_id)
            self._call_uuids.pop(key, None)
            self._placed.discard(key)
        self._speeches.pop(call_uuid, None)
        self._listens.pop(call_uuid, None)
        self._on_hold.pop(call_uuid, None)
        self._connecting.discard(call_uuid)
        for token in [t for t, (uuid_, _) in self._heard.items() if uuid_ == call_uuid]:
            self.speech_heard(token)  # nobody will hear the rest: release the waiter

    # -- notify mode ---------------------------------------------------------------------------

    def store_notify_xml(self, call_id: str, xml: str) -> None:
        """Keep the notify call's XML for its answer fetch; flags the call notify."""
        self._notify_xml[call_id] = xml
        self._notify_calls.add(call_id)

    def take_notify_xml(self, call_id: str) -> str | None:
        """The stored notify XML, once; None afterwards (the call stays flagged notify)."""
        return self._notify_xml.pop(call_id, None)

    def drop_notify(self, call_id: str) -> None:
        """The call was never placed: forget its notify XML and flag."""
        self._notify_xml.pop(call_id, None)
        self._notify_calls.discard(call_id)

    def is_notify(self, call_id: str) -> bool:
        return call_id in self._notify_calls

    # -- speech and listening --------------------------------------------------------------------

    def set_speech(self, call_uuid: str, speech: PendingSpeech,
                   on_heard: Callable[[], None]) -> None:
        """The call's next fetch of ``flow=xml-speak`` says ``speech``; ``on_heard`` runs when
        Plivo comes back after it (or the call is forgotten). A speech replaces a listen."""
        self._speeches[call_uuid] = speech
        self._listens.pop(call_uuid, None)
        self._heard[speech.token] = (call_uuid, on_heard)

    def take_speech(self, call_uuid: str) -> PendingSpeech | None:
        return self._speeches.pop(call_uuid, None)

    def speech_heard(self, token: str) -> None:
        """Plivo followed the Redirect after the ``<Speak>`` named ``token`` (or the waiter
        gives up): release its waiter, once."""
        entry = self._heard.pop(token, None)
        if entry is None:
            return
        call_uuid, on_heard = entry
        pending = self._speeches.get(call_uuid)
        if pending is not None and pending.token == token:
            del self._speeches[call_uuid]  # never fetched: it will not be said now
        on_heard()

    def set_listen(self, call_uuid: str, listen: PendingListen) -> None:
        self._listens[call_uuid] = listen

    def listen(self, call_uuid: str) -> PendingListen | None:
        """The call's listening turn, if any; its prompt is handed out once (a re-listen
        after silence does not repeat it)."""
        listen = self._listens.get(call_uuid)
        if listen is not None and listen.prompt:
            self._listens[call_uuid] = PendingListen(listen.turn_token, accept=listen.accept)
        return listen

    def stop_listening(self, call_uuid: str) -> None:
        """The turn is over (given up, or the call is steered elsewhere)."""
        self._listens.pop(call_uuid, None)

    def end_turn(self, call_uuid: str, turn_token: str | None) -> bool:
        """A GetInput callback carrying ``turn_token`` arrived: it ends the listening turn
        only when it is that turn's (same token; None matches a turn without one). A late
        callback of an older turn changes nothing and returns False."""
        listen = self._listens.get(call_uuid)
        if listen is None or listen.turn_token != turn_token:
            return False
        del self._listens[call_uuid]
        return True

    # -- inbound callers on hold -----------------------------------------------------------------

    def hold(self, call_uuid: str) -> bool:
        """The caller is (still) on hold, keeping their place in line (a new one joins at the
        end); True the first time (they are told why)."""
        first = call_uuid not in self._on_hold
        self._on_hold.setdefault(call_uuid, None)
        return first

    def unhold(self, call_uuid: str) -> None:
        self._on_hold.pop(call_uuid, None)
        self._connecting.discard(call_uuid)

    def held(self) -> list[str]:
        """CallUUIDs on hold, longest-waiting first."""
        return list(self._on_hold)

    def first_in_line(self, call_uuid: str) -> bool:
        """Whether ``call_uuid`` is on hold with nobody ahead of them (and no caller taken off
        hold is still on their way to a stream)."""
        return not self._connecting and next(iter(self._on_hold), None) == call_uuid

    def start_connecting(self, call_uuid: str) -> None:
        """The caller leaves the hold for a stream (their transfer is on its way)."""
        self._on_hold.pop(call_uuid, None)
        self._connecting.add(call_uuid)

    def is_connecting(self, call_uuid: str) -> bool:
        return call_uuid in self._connecting

    def hold_first(self, call_uuid: str) -> None:
        """Connecting failed: the caller waits again, first in line."""
        self._connecting.discard(call_uuid)
        self._on_hold = {call_uuid: None, **self._on_hold}

    def queue_ahead(self) -> bool:
        """Whether a new inbound caller must wait behind others already on hold or on their
        way to a stream."""
        return bool(self._on_hold or self._connecting)
