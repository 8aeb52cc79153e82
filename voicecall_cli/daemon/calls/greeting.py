"""What happens when a call is answered (reference 2.6 and 10): the max-duration timer, the
initial message (the outbound message or the inbound greeting), and the notify-mode hang-up.

The greeting runs as a task in the call manager's nursery; at most one per call is in flight.
A failed greeting keeps ``initialMessage`` so the next trigger retries it, and the call falls
back to ``listening``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from voicecall_cli.core.call import CallRecord, TranscriptEntry
from voicecall_cli.core.states import CallState

if TYPE_CHECKING:
    from voicecall_cli.daemon.calls.manager import CallManager

Fire = Callable[[CallRecord], Awaitable[None]]

log = logging.getLogger("voicecall.calls")

MAX_DURATION = "max-duration"
NOTIFY_HANGUP = "notify-hangup"


def on_answered(manager: CallManager, call: CallRecord) -> None:
    """Start the max-duration timer and deliver the initial message, unless the provider does
    it itself (``native_notify``: Twilio's notify TwiML says it and hangs up) or a media stream
    will (the greeting then plays when the stream starts, reference 2.6)."""
    start_max_duration_timer(manager, call)
    message = str(call.metadata.get("initialMessage") or "").strip()
    if call.mode != "notify" and manager.speech.streams_calls and call.provider_call_id:
        # The stream's first words are prepared now (an outbound call's were while it rang;
        # a realtime voice opens its session here).
        manager.speech.prepare(call.call_id, call.provider_call_id, message)
    if not message:
        return
    if call.mode == "notify" and manager.provider.capabilities.native_notify:
        call.metadata.pop("initialMessage", None)
        manager.add_transcript(call, TranscriptEntry(manager.now_ms(), "bot", message))
        return
    if call.mode != "notify" and manager.speech.streams_calls:
        # Pending until the stream starts: speak/continue wait for it instead of racing it.
        manager.greeting_in_flight.setdefault(call.call_id, trio.Event())
        return
    start_greeting(manager, call.call_id)


def start_greeting(manager: CallManager, call_id: str) -> None:
    """Speak the call's initial message in the background, at most once at a time. It counts
    as in flight from this moment, so a ``speak`` or ``continue`` arriving before the task
    runs still waits for it."""
    call = manager.calls.get(call_id)
    if call is None or call_id in manager.greeting_running:
        return
    message = str(call.metadata.get("initialMessage") or "").strip()
    if not message or not call.provider_call_id:
        pending = manager.greeting_in_flight.pop(call_id, None)
        if pending is not None:
            pending.set()
        return
    manager.greeting_running.add(call_id)
    manager.greeting_in_flight.setdefault(call_id, trio.Event())
    manager.spawn(_speak_initial_message, manager, call, message)


def start_max_duration_timer(manager: CallManager, call: CallRecord) -> None:
    if call.answered_at is None:
        return
    deadline = call.answered_at + int(manager.settings.max_duration_s * 1000)
    manager.start_timer(call.call_id, MAX_DURATION, deadline, _max_duration_reached(manager))


def _max_duration_reached(manager: CallManager) -> Fire:
    async def fire(call: CallRecord) -> None:
        log.info("call %s reached maxDurationSeconds; hanging up", call.call_id)
        call.end_reason = CallState.TIMEOUT.value
        manager.persist(call)
        try:
            await manager.hang_up(call, CallState.TIMEOUT.value)
        except Exception as exc:
            log.warning("hang-up at max duration failed for call %s: %s", call.call_id, exc)
    return fire


async def _speak_initial_message(manager: CallManager, call: CallRecord, message: str) -> None:
    call_id = call.call_id
    assert call.provider_call_id is not None
    try:
        manager.move(call, CallState.SPEAKING)
        await manager.speech.speak(call.call_id, call.provider_call_id, message)
    except Exception as exc:
        log.warning("failed to speak the initial message of call %s: %s", call_id, exc)
        if not call.is_terminal:
            manager.move(call, CallState.LISTENING)
        return
    finally:
        manager.greeting_running.discard(call_id)
        manager.greeting_in_flight.pop(call_id).set()
    if call.is_terminal:
        return
    call.metadata.pop("initialMessage", None)
    manager.add_transcript(call, TranscriptEntry(manager.now_ms(), "bot", message))
    if call.mode == "notify":
        deadline = manager.now_ms() + int(manager.settings.notify_hangup_delay_s * 1000)
        manager.start_timer(call_id, NOTIFY_HANGUP, deadline, _notify_done(manager))


def _notify_done(manager: CallManager) -> Fire:
    async def fire(call: CallRecord) -> None:
        try:
            await manager.hang_up(call, CallState.HANGUP_BOT.value)
        except Exception as exc:
            log.warning("Notify mode failed to hang up call %s: %s", call.call_id, exc)
    return fire
