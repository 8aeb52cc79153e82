"""Answering-machine detection's results acted on (``outbound.machineDetection``).

The carrier's result arrives as ``call.answered_by`` events; the core records it on the call
(``answeredBy``) and says whether a conversation call reached a machine. This module, called by
the call manager for each such event (:func:`on_answered_by`) and by the greeting on answer
(:func:`on_answered`, which wraps the greeting's), does the rest:

* every mode: the result is published once per change as a ``call.answered_by`` event
  (``{answeredBy}``; ``greetingEnded: true`` when the carrier says a machine's greeting ended);
* a conversation call a machine answered (``detect`` or ``voicemail``) is hung up with end
  reason ``voicemail``;
* ``voicemail``: a notify call's message waits for the result instead of being spoken on
  answer. A human (or ``unknown``) gets it at once; a machine gets it once its greeting has
  ended (the carrier's beep / greeting-ended result; carriers that must be asked for it are,
  through :meth:`ProviderClient.await_greeting_end`), so it is recorded as the voicemail; a fax
  is hung up (``hangup-bot``) without the message. Should the carrier never say, the message is
  spoken anyway after :data:`RESULT_WAIT_S` (from answer) or :data:`GREETING_WAIT_S` (from the
  machine's detection). The greeting code then speaks it and hangs up as for any notify call.

What a voicemail call is waiting for lives in its metadata (``voicemail``: ``greeting`` while a
machine's greeting plays, ``ready`` once the message may go), so it is persisted with the call.
Tasks run in the manager's nursery; timers are the manager's (ending the call cancels them).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from voicecall_cli.core.call import CallRecord
from voicecall_cli.core.events import NormalizedEvent
from voicecall_cli.core.processing import Outcome
from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.calls import greeting
from voicecall_cli.daemon.calls.greeting import start_greeting
from voicecall_cli.protocol import events as ev

if TYPE_CHECKING:
    from voicecall_cli.daemon.calls.manager import CallManager

log = logging.getLogger("voicecall.calls")

VOICEMAIL_WAIT = "voicemail-wait"
RESULT_WAIT_S = 45  # answered, no detection result yet: speak the message after this long
GREETING_WAIT_S = 30  # a machine answered, its greeting never reported over: speak anyway
WAITING_GREETING = "greeting"
READY = "ready"


def leaves_voicemail(call: CallRecord) -> bool:
    """Whether ``call``'s message waits for answering-machine detection (``voicemail`` mode,
    an outbound notify call)."""
    return (call.metadata.get("machineDetection") == "voicemail" and call.mode == "notify"
            and call.direction == "outbound")


def on_answered(manager: CallManager, call: CallRecord) -> None:
    """What an answered call starts (:func:`.greeting.on_answered`), except that a voicemail
    call's message is the daemon's to say (never a carrier's native notify) and waits for the
    detection result; a result that came before the answer is acted on now. (A carrier may
    report the answer more than once: the greeting runs at most once at a time and only
    while the message is unsaid.)"""
    if not leaves_voicemail(call):
        greeting.on_answered(manager, call)
        return
    greeting.start_max_duration_timer(manager, call)
    state = call.metadata.get("voicemail")
    if state == READY:
        start_greeting(manager, call.call_id)
        return
    _start_wait(manager, call, GREETING_WAIT_S if state == WAITING_GREETING else RESULT_WAIT_S)


def on_answered_by(manager: CallManager, call: CallRecord, event: NormalizedEvent,
                   outcome: Outcome) -> None:
    """A ``call.answered_by`` event was applied to ``call`` (see the module docstring)."""
    if outcome.answered_by_changed or (event.greeting_ended and call.answered_by == "machine"):
        data: dict[str, object] = {"answeredBy": call.answered_by}
        if event.greeting_ended:
            data["greetingEnded"] = True
        manager.publish(call, ev.CALL_ANSWERED_BY, data)
    if call.is_terminal:
        return
    if outcome.end_as_voicemail:
        log.info("call %s reached a machine; hanging up (voicemail)", call.call_id)
        manager.spawn(_hang_up, manager, call, CallState.VOICEMAIL.value)
        return
    if not leaves_voicemail(call) or call.metadata.get("voicemail") == READY:
        return
    result = call.answered_by
    if result == "fax":
        log.info("call %s reached a fax; hanging up without the message", call.call_id)
        manager.spawn(_hang_up, manager, call, CallState.HANGUP_BOT.value)
        return
    if result == "machine" and not event.greeting_ended:
        if call.metadata.get("voicemail") != WAITING_GREETING:
            call.metadata["voicemail"] = WAITING_GREETING
            manager.persist(call)
            if call.provider_call_id:
                manager.spawn(_await_greeting_end, manager, call.call_id,
                              call.provider_call_id)
            if call.answered_at is not None:
                _start_wait(manager, call, GREETING_WAIT_S)
        return
    _ready(manager, call)


def _ready(manager: CallManager, call: CallRecord) -> None:
    """The message may be spoken now (at once when the call is answered, else on answer)."""
    call.metadata["voicemail"] = READY
    manager.persist(call)
    if call.answered_at is not None:
        start_greeting(manager, call.call_id)


def _start_wait(manager: CallManager, call: CallRecord, wait_s: int) -> None:
    async def fire(waiting: CallRecord) -> None:
        if waiting.metadata.get("voicemail") != READY:
            log.info("no greeting end reported for call %s; speaking its message",
                     waiting.call_id)
            _ready(manager, waiting)

    manager.start_timer(call.call_id, VOICEMAIL_WAIT, manager.now_ms() + wait_s * 1000, fire)


async def _await_greeting_end(manager: CallManager, call_id: str, provider_call_id: str) -> None:
    try:
        await manager.client.await_greeting_end(call_id, provider_call_id)
    except Exception as exc:  # the wait timer still speaks the message
        log.warning("asking the carrier for the greeting's end of call %s failed: %s",
                    call_id, exc)


async def _hang_up(manager: CallManager, call: CallRecord, reason: str) -> None:
    try:
        await manager.hang_up(call, reason)
    except Exception as exc:
        log.warning("hang-up of call %s (%s) failed: %s", call.call_id, reason, exc)
