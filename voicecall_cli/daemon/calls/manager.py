"""The call manager: owns every live call, executes the core's decisions, keeps the store true.

Resource handling: :meth:`CallManager.run` opens the manager's nursery; every per-call task
(timers, greetings, provider requests started by events) lives there and is cancelled when the
daemon shuts down. What runs on top of the manager (the greeting on answer, restore after a
restart, the stale-call reaper) is wired in by :mod:`.service`; this module imports none of
it. Calls themselves are not ended on shutdown: they are persisted and restored on
the next start (reference 3.2).

Every mutation of a call is persisted before the change is published on the bus, so a
``kill -9`` at any moment loses no acknowledged state. Provider operations run from control
requests (initiate, speak, continue, end) in the requester's task; an operation the requester
abandons (client gone) is cancelled with it.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from typing import Any

import trio

from voicecall_cli.core.call import CallRecord, TranscriptEntry
from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.core.processing import (
    Outcome,
    apply_event,
    finalize,
    set_state,
)
from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.bus import EventBus
from voicecall_cli.daemon.calls.confirmations import ConfirmationTokens
from voicecall_cli.daemon.calls.inbound import InboundAdmission
from voicecall_cli.daemon.calls.keys import KeyCollector
from voicecall_cli.daemon.calls.latency import TurnLatency
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.calls.speech import SpeechRouter
from voicecall_cli.daemon.calls.turns import TurnWaiter
from voicecall_cli.daemon.clock import WallClock
from voicecall_cli.daemon.store import Store
from voicecall_cli.protocol import events as ev
from voicecall_cli.providers.base import Endpoints, Provider

log = logging.getLogger("voicecall.calls")


class CallManager:
    """Active calls by id and by provider call id, their timers, waiters and greeting tasks.

    ``provider`` is the opened provider (its client places, ends and asks about calls);
    ``speech`` routes speaking and listening (into media streams or through the provider; by
    default always through the provider); ``endpoints`` says where the daemon is reachable.
    """

    def __init__(self, settings: CallSettings, store: Store, bus: EventBus,
                 provider: Provider, clock: WallClock, *, endpoints: Endpoints,
                 speech: SpeechRouter | None = None) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.provider = provider
        self.client = provider.client
        self.speech = speech or SpeechRouter(provider.client, provider.capabilities)
        self.endpoints = endpoints
        self.clock = clock
        self.calls: dict[str, CallRecord] = {}
        self.by_provider_id: dict[str, str] = {}
        self.waiters: dict[str, TurnWaiter] = {}
        self.pending_initiations = 0
        self.confirmations = ConfirmationTokens()  # mcp.requireConfirmation (see .rails)
        self._timers: dict[tuple[str, str], trio.CancelScope] = {}
        # call id -> set once the greeting was spoken (or given up); pending from the answer
        # when it waits for a media stream. greeting_running: its task is under way.
        self.greeting_in_flight: dict[str, trio.Event] = {}
        self.greeting_running: set[str] = set()
        self._ending: dict[str, trio.Event] = {}
        self._ending_reasons: dict[str, str] = {}  # call id -> reason of its hang-up in flight
        # call id -> set (and dropped) at the call's next state change: what waits for an
        # answer sleeps on it (see wait_until_answered).
        self._state_changed: dict[str, trio.Event] = {}
        self._restored: list[CallRecord] = []
        self._nursery: trio.Nursery | None = None
        self.auto_responder: Any = None  # AutoResponder, when auto-responses are on
        self.realtime: Any = None  # RealtimeVoices, when a realtime model speaks calls
        self.hold_queue: Any = None  # HoldQueue (see service.new_call_manager)
        self.hooks: Any = None  # the post-call HookRunner (see service.run_calls)
        # What an answered call starts (the greeting; see service.new_call_manager).
        self.on_answered: Callable[[CallRecord], None] = lambda call: None
        # What takes the carrier's call.recording reports (see .recording).
        self.on_recording: Callable[[NormalizedEvent], None] = lambda event: None
        # What an answering-machine detection result does (see service.new_call_manager).
        self.on_answered_by: Callable[[CallRecord, NormalizedEvent, Outcome], None] = \
            lambda call, event, outcome: None
        # What a stream starting or stopping, or a call ending, wakes (the hold queue).
        self.on_streams_changed: Callable[[], None] = lambda: None
        self.latency = TurnLatency(self)
        self.keys = KeyCollector(self)  # the caller's touch tones (call.dtmf, turn answers)
        self.inbound = InboundAdmission(self)  # events for calls the manager does not know

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[CallManager] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Hold the manager's nursery until cancelled; ready at once."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started(self)
            await trio.sleep_forever()

    def adopt_restored(self, calls: list[CallRecord]) -> None:
        """Calls restored from the store, to resume with the provider once the daemon's
        endpoints are known (:meth:`resume_restored_calls`)."""
        self._restored = list(calls)

    def resume_restored_calls(self) -> None:
        """Called once the webhook server listens: restored calls resume with the provider."""
        for call in self._restored:
            if not call.is_terminal and call.provider_call_id:
                self.spawn(self._resume, call.call_id, call.provider_call_id)
        self._restored = []

    async def _resume(self, call_id: str, provider_call_id: str) -> None:
        try:
            await self.client.resume(call_id, provider_call_id)
        except Exception as exc:  # a failed resume leaves the call to its timers
            log.warning("provider could not resume call %s: %s", call_id, exc)

    def spawn(self, fn: Any, *args: Any) -> None:
        assert self._nursery is not None, "CallManager.run() is not running"
        self._nursery.start_soon(fn, *args)

    # -- registry, persistence, publication ----------------------------------------------------

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def register(self, call: CallRecord) -> None:
        self.calls[call.call_id] = call
        if call.provider_call_id:
            self.by_provider_id[call.provider_call_id] = call.call_id

    def find(self, call_or_provider_id: str) -> CallRecord | None:
        call = self.calls.get(call_or_provider_id)
        if call is None and call_or_provider_id in self.by_provider_id:
            call = self.calls.get(self.by_provider_id[call_or_provider_id])
        return call

    def persist(self, call: CallRecord) -> None:
        self.store.save_call(call.to_dict())

    def publish(self, call: CallRecord | None, kind: str, data: dict[str, Any]) -> None:
        self.bus.publish(call.call_id if call else None, kind, data)

    def persist_state(self, call: CallRecord, previous: CallState) -> None:
        """Persist, then publish the state change (and the end, when it ended). A call that
        ended leaves memory even when the store cannot record it (StoreError propagates): it
        must not hold a slot or take requests; a restart reconciles the store with the
        carrier."""
        try:
            self.persist(call)
            if call.state != previous:
                self.publish(call, ev.CALL_STATE, {"state": call.state.value,
                                                   "previous": previous.value})
        finally:
            changed = self._state_changed.pop(call.call_id, None) \
                if call.state != previous else None
            if changed is not None:
                changed.set()
            if call.is_terminal and not previous.is_terminal:
                self._on_ended(call)

    def move(self, call: CallRecord, target: CallState) -> None:
        previous = call.state
        if set_state(call, target):
            self.persist_state(call, previous)

    async def wait_until_answered(self, call: CallRecord) -> None:
        """Return once ``call`` has been answered or has ended (at once if it already has).

        Cancellation (the requester went away, a caller's timeout) leaves nothing behind."""
        while call.answered_at is None and not call.is_terminal:
            changed = self._state_changed.setdefault(call.call_id, trio.Event())
            await changed.wait()

    def end_locally(self, call: CallRecord, reason: str) -> None:
        """Finalize ``call`` with ``reason`` now (the provider side is the caller's business)."""
        previous = call.state
        if finalize(call, reason, self.now_ms()):
            self.persist_state(call, previous)

    def _on_ended(self, call: CallRecord) -> None:
        try:
            self.publish(call, ev.CALL_ENDED, {"reason": call.end_reason})
        finally:
            self.forget(call)

    def forget(self, call: CallRecord) -> None:
        """Drop ``call`` and all that hangs on it from memory: its waiter (failed), timers,
        carrier-id mapping and stream slot. For an ended call, and for a call the store could
        not record (it must not hold a ``maxConcurrentCalls`` slot or be listed as live)."""
        waiter = self.waiters.pop(call.call_id, None)
        if waiter is not None:
            waiter.fail(f"Call ended: {call.end_reason}")
        if call.call_id not in self.greeting_running:  # a running one settles itself
            pending = self.greeting_in_flight.pop(call.call_id, None)
            if pending is not None:
                pending.set()
        for key in [k for k in self._timers if k[0] == call.call_id]:
            self._timers.pop(key).cancel()
        self.calls.pop(call.call_id, None)
        pid = call.provider_call_id
        if pid and self.by_provider_id.get(pid) == call.call_id:
            del self.by_provider_id[pid]
        if self.realtime is not None:
            self.realtime.forget(call.call_id)
        streams = self.speech.streams
        if streams is not None:  # a stream slot handed to the call and never used is free
            for subject in {call.call_id, pid} - {None, ""}:
                streams.release(subject)
        self.on_streams_changed()

    def add_transcript(self, call: CallRecord, entry: TranscriptEntry) -> None:
        call.transcript.append(entry)
        self.persist(call)
        self.publish_transcript(call, entry)

    def publish_transcript(self, call: CallRecord, entry: TranscriptEntry) -> None:
        self.publish(call, ev.CALL_TRANSCRIPT, {"speaker": entry.speaker, "text": entry.text,
                                                "isFinal": entry.is_final})

    def snapshot(self) -> list[dict[str, Any]]:
        return [c.to_view().to_json() for c in self.calls.values()]

    # -- timers --------------------------------------------------------------------------------

    def start_timer(self, call_id: str, name: str, deadline_ms: int, fire: Any) -> None:
        """(Re)start the named timer of a call; it calls ``fire(call)`` at the deadline if the
        call is still live. Ending the call cancels all its timers."""
        old = self._timers.pop((call_id, name), None)
        if old is not None:
            old.cancel()
        scope = trio.CancelScope()
        self._timers[(call_id, name)] = scope
        self.spawn(self._timer, call_id, name, deadline_ms, fire, scope)

    async def _timer(self, call_id: str, name: str, deadline_ms: int, fire: Any,
                     scope: trio.CancelScope) -> None:
        with scope:
            await self.clock.sleep_until_ms(deadline_ms)
            if self._timers.get((call_id, name)) is scope:
                del self._timers[(call_id, name)]
            call = self.calls.get(call_id)
            if call is not None and not call.is_terminal:
                try:
                    await fire(call)
                except Exception:  # (a store that cannot be written) never ends the daemon
                    log.exception("timer %s of call %s failed", name, call_id)

    # -- provider events ----------------------------------------------------------------------

    def handle_events(self, events: list[NormalizedEvent]) -> None:
        """Feed verified webhook events in order; one bad event never stops the others.
        Everything they write is committed at once (one fsync per delivery, not per row)."""
        with self.store.batch():
            for event in events:
                try:
                    self.handle_event(event)
                except Exception:
                    log.exception("failed to process %s event", event.type)

    def handle_event(self, event: NormalizedEvent) -> None:
        if event.type is EventType.RECORDING:  # may come after the end: the call's own path
            self.on_recording(event)
            return
        now = self.now_ms()
        call = self.find(event.call_id) or (
            self.find(event.provider_call_id) if event.provider_call_id else None)
        if call is None:
            # Checked before admitting: a duplicate must not create (or reject) a call. For a
            # known call ``add_processed_key`` below is the check (nothing happens before it).
            if self.store.has_processed_key(event.key):
                log.info("duplicate %s event ignored", event.type)
                return
            call = self.inbound.admit(event, now)
            if call is None:
                return
        if not self.store.add_processed_key(event.key, now):
            log.info("duplicate %s event ignored for call %s", event.type, call.call_id)
            return
        if event.provider_call_id and event.provider_call_id != call.provider_call_id:
            self._rekey(call, event.provider_call_id)
        ending = self._ending_reasons.get(call.call_id)
        if ending is not None and event.type is EventType.ENDED:
            # The carrier reporting the hang-up we asked for (it can beat the REST answer).
            event = dataclasses.replace(event, reason=ending)
        previous = call.state
        waiter = self.waiters.get(call.call_id)
        outcome = apply_event(call, event, waiter.pure if waiter else None, now)
        if outcome.token_mismatch:
            log.warning("mismatched turn token for call %s; %s ignored", call.call_id,
                        "keys" if outcome.dtmf_digits else "transcript")
        if outcome.error_message:
            self.publish(call, ev.CALL_ERROR, {"message": outcome.error_message})
            if waiter is not None:
                waiter.fail(f"Call error: {outcome.error_message}")
        self.persist_state(call, previous)
        if outcome.user_transcript is not None:
            self.publish_transcript(call, outcome.user_transcript)
        if outcome.resolve_waiter_with is not None and waiter is not None:
            self.waiters.pop(call.call_id, None)
            waiter.resolve(outcome.resolve_waiter_with)
        if outcome.dtmf_digits is not None:
            self.keys.received(call, outcome.dtmf_digits, complete=event.keys_complete,
                               for_turn=not outcome.token_mismatch)
        if outcome.answered:
            self.on_answered(call)
        if event.type is EventType.ANSWERED_BY:
            self.on_answered_by(call, event, outcome)
        if event.type is EventType.SPEECH and not outcome.token_mismatch:
            self._hand_over_speech(call, outcome)

    def _hand_over_speech(self, call: CallRecord, outcome: Outcome) -> None:
        """A final caller utterance nobody's turn took goes to the auto-responder; any caller
        speech makes its pending replies stale."""
        auto = self.auto_responder
        if auto is None or (self.realtime is not None and self.realtime.owns(call)):
            return  # (a realtime model answers its calls itself)
        unclaimed = outcome.user_transcript is not None and outcome.resolve_waiter_with is None
        if unclaimed and not call.is_terminal and auto.wants(call):
            assert outcome.user_transcript is not None
            auto.answer(call, outcome.user_transcript.text)
        else:
            auto.caller_spoke(call.call_id)

    def _rekey(self, call: CallRecord, provider_call_id: str) -> None:
        old = call.provider_call_id
        if old and self.by_provider_id.get(old) == call.call_id:
            del self.by_provider_id[old]
        call.provider_call_id = provider_call_id
        self.by_provider_id[provider_call_id] = call.call_id

    # -- ending -------------------------------------------------------------------------------

    async def hang_up(self, call: CallRecord, reason: str) -> None:
        """Ask the provider to hang up, then finalize with ``reason``. Concurrent requests for
        one call share the first one's outcome; a provider error propagates and the call stays
        live."""
        pending = self._ending.get(call.call_id)
        if pending is not None:
            await pending.wait()
            return
        done = self._ending[call.call_id] = trio.Event()
        self._ending_reasons[call.call_id] = reason
        try:
            if call.provider_call_id:
                self.speech.discard(call.provider_call_id)
                await self.client.hangup(call.call_id, call.provider_call_id, reason)
            self.end_locally(call, reason)
        finally:
            del self._ending[call.call_id]
            del self._ending_reasons[call.call_id]
            done.set()

    def new_turn_token(self) -> str:
        return uuid.uuid4().hex
