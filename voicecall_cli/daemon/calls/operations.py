"""The control API's call operations (reference 2.5 to 2.10), executed on the call manager.

Each function runs in the task of the control request that asked for it, so a client that goes
away cancels its own wait (a ``continue`` waiter is then removed; the call lives on). Failures
are raised as :class:`ApiError` with the stable code the CLI turns into its exit code.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from voicecall_cli.core.call import CallRecord, TranscriptEntry
from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.calls import rails
from voicecall_cli.daemon.calls.manager import CallManager
from voicecall_cli.daemon.calls.recording import RECORD_KEY
from voicecall_cli.daemon.calls.turns import TurnFailed, TurnWaiter
from voicecall_cli.daemon.store import StoreError
from voicecall_cli.protocol import (
    CALL_STATE_GROUPS,
    ApiError,
    CallsRequest,
    ContinueRequest,
    EndRequest,
    ErrorCode,
    InitiateRequest,
    SpeakRequest,
    StatusRequest,
)
from voicecall_cli.protocol import events as ev
from voicecall_cli.protocol.text import is_e164
from voicecall_cli.protocol.views import (
    CallsResult,
    CallView,
    ContinueResult,
    InitiateResult,
    StatusResult,
    SuccessResult,
)
from voicecall_cli.providers.base import PlaceCallRequest

log = logging.getLogger("voicecall.calls")
GREETING_WAIT_S = 30.0  # a media stream that never starts must not hold a turn forever
MIN_PREFIX = 4  # a call id prefix shorter than this is taken as a whole id
DEFAULT_CALL_LIST = 20
ANSWER_WAIT_MARGIN_S = 15.0  # beyond ringTimeoutMs: the provider's no-answer report may lag


def _failed(message: str) -> ApiError:
    return ApiError(ErrorCode.OPERATION_FAILED, message)


async def initiate(m: CallManager, req: InitiateRequest) -> dict[str, Any]:
    """Place an outbound call. Order: validate and apply defaults; the idempotency replay,
    the outbound rails and the confirmation step (:func:`.rails.admit`); the concurrency
    limit; the journal entry (with the idempotency key, in one transaction); the dial."""
    s = m.settings
    to = req.to or s.to_number
    if not to:
        raise ApiError(ErrorCode.BAD_REQUEST, "to required (pass --to or set toNumber)")
    if not is_e164(to):
        raise ApiError(ErrorCode.BAD_REQUEST, "to: Expected E.164 format, e.g. +15550001234")
    from_number = req.from_ or s.effective_from_number
    if not from_number:
        raise _failed("fromNumber not configured")
    if req.from_ and not is_e164(req.from_):
        raise ApiError(ErrorCode.BAD_REQUEST, "from: Expected E.164 format, e.g. +15550001234")
    if not m.endpoints.webhook_url:
        raise _failed("Webhook URL not configured")
    mode = req.mode or s.default_mode
    if req.objective is not None:
        _check_objective(m, mode)
    if req.record and not m.provider.capabilities.recording:
        raise ApiError(ErrorCode.BAD_REQUEST,
                       f"record: provider {m.provider.name} cannot record calls")
    amd = s.machine_detection
    if amd != "off" and not m.provider.capabilities.machine_detection:
        raise _failed(f"{s.provider} cannot detect answering machines; set "
                      "outbound.machineDetection = \"off\"")
    admission = rails.admit(m, req, to, from_number, mode)
    if admission.answer is not None:
        return admission.answer
    outbound = sum(1 for c in m.calls.values() if c.direction == "outbound")
    if outbound + m.pending_initiations >= s.max_concurrent_calls:
        raise ApiError(ErrorCode.CONFLICT,
                       f"Maximum concurrent calls ({s.max_concurrent_calls}) reached")
    now = m.now_ms()
    call = CallRecord(call_id=str(uuid.uuid4()), provider=s.provider, direction="outbound",
                      state=CallState.INITIATED, from_number=from_number, to_number=to,
                      started_at=now, metadata={"initialMessage": req.message, "mode": mode})
    if req.objective is not None:
        call.metadata["objective"] = req.objective
    if req.record:
        call.metadata[RECORD_KEY] = True  # started at the answer (see .recording)
    if amd != "off":
        call.metadata["machineDetection"] = amd
    m.pending_initiations += 1
    try:
        try:  # the call, its journal entry and call.created: all committed, or none
            with m.store.batch():
                m.persist(call)
                m.store.journal_begin(call.call_id, to, from_number, mode, now,
                                      idempotency=admission.idempotency)
                m.publish(call, ev.CALL_CREATED, {"direction": "outbound", "from": from_number,
                                                  "to": to, "mode": mode,
                                                  "provider": s.provider})
        except StoreError as exc:
            raise store_unavailable(exc, "nothing was dialled") from None
        admission.place()  # (a confirmation token stays usable when the store refused)
        m.register(call)
        try:
            placed = await m.client.place_call(PlaceCallRequest(
                call_id=call.call_id, from_number=from_number, to_number=to, mode=mode,
                message=req.message, machine_detection=amd))
        except Exception as exc:
            _dial_failed(m, call, exc)
            raise _failed(f"call {call.call_id} failed: {exc}") from None
        await _record_dialled(m, call, placed.provider_call_id)
        if mode == "conversation":  # (a realtime voice opens its session while it rings)
            m.speech.prepare(call.call_id, placed.provider_call_id, req.message or "")
    finally:
        m.pending_initiations -= 1
    return InitiateResult(initiated=True, callId=call.call_id).to_json()


def _check_objective(m: CallManager, mode: str) -> None:
    """An objective is for the auto-responder: refused where none would ever read it."""
    if mode != "conversation":
        raise ApiError(ErrorCode.BAD_REQUEST,
                       "objective is for conversation calls (the auto-responder answers only "
                       "those); a notify call only says its message")
    if m.auto_responder is None:
        raise ApiError(ErrorCode.BAD_REQUEST,
                       "objective needs automatic replies, which are off: configure an "
                       "OpenAI API key (OPENAI_API_KEY or streaming.openaiApiKey)")


def store_unavailable(exc: StoreError, outcome: str) -> ApiError:
    """``store_unavailable`` for a request the store could not record; ``outcome`` says what
    was (not) done about it. The message names the store's file (:class:`StoreError`'s)."""
    return ApiError(ErrorCode.STORE_UNAVAILABLE, f"{exc}; {outcome}")


def _dial_failed(m: CallManager, call: CallRecord, exc: Exception) -> None:
    """The provider refused the dial: journal it, publish it and end the call; if the store
    cannot record that, the call is still forgotten (a restart ends it ``failed``)."""
    try:
        with m.store.batch():
            m.store.journal_failed(call.call_id, str(exc))
            m.publish(call, ev.CALL_ERROR, {"message": str(exc)})
            m.end_locally(call, CallState.FAILED.value)
    except StoreError as store_exc:
        log.error("call %s failed and could not be recorded: %s", call.call_id, store_exc)
    finally:
        m.forget(call)


async def _record_dialled(m: CallManager, call: CallRecord, provider_call_id: str) -> None:
    """Record that the provider placed ``call``. A store that cannot record it gets the call
    hung up at the provider (nobody could end or follow it otherwise) and forgotten, and the
    request fails ``store_unavailable``."""
    if call.provider_call_id is None:  # an early webhook may already have keyed it
        call.provider_call_id = provider_call_id
    m.by_provider_id[provider_call_id] = call.call_id
    try:
        with m.store.batch():
            m.store.journal_placed(call.call_id, provider_call_id)
            m.persist(call)
            m.publish(call, ev.CALL_DIALLED, {"providerCallId": provider_call_id})
    except StoreError as exc:
        m.forget(call)
        outcome = "the call was hung up"
        with trio.CancelScope(shield=True), trio.move_on_after(10) as scope:
            try:
                await m.client.hangup(call.call_id, provider_call_id, CallState.ERROR.value)
            except Exception as hangup_exc:
                outcome = f"hanging the call up failed too: {hangup_exc}"
        if scope.cancelled_caught:
            outcome = "hanging the call up timed out"
        raise store_unavailable(exc, f"call {call.call_id} was dialled, {outcome}") from None


def resolve_call_id(m: CallManager, given: str) -> str:
    """The call id ``given`` names: itself when a call (or provider call id) has it, else the
    one call whose id starts with it (at least :data:`MIN_PREFIX` characters, as the short
    ids of ``tail`` and ``status``); ``given`` unchanged when nothing matches.

    Raises ``bad_request`` when the prefix matches several calls."""
    if m.find(given) is not None or len(given) < MIN_PREFIX:
        return given
    if _stored_call(m, given) is not None:
        return given
    matches = {call_id for call_id in m.calls if call_id.startswith(given)}
    matches.update(m.store.call_ids_with_prefix(given, limit=2))
    if len(matches) > 1:
        raise ApiError(ErrorCode.BAD_REQUEST,
                       f"call id {given!r} is the start of several calls' ids; give more of it")
    return matches.pop() if matches else given


def _stored_call(m: CallManager, call_id: str) -> dict[str, Any] | None:
    """The stored record with this call id or provider call id (ended calls live there)."""
    return m.store.get_call(call_id) or m.store.find_call_by_provider_id(call_id)


def connected_call(m: CallManager, call_id: str) -> CallRecord:
    call_id = resolve_call_id(m, call_id)
    call = m.find(call_id)
    if call is None:
        stored = _stored_call(m, call_id)
        if stored is not None:
            raise _failed("Call has ended")
        raise ApiError(ErrorCode.CALL_NOT_FOUND, f"Call not found: {call_id}")
    if call.is_terminal:
        raise _failed("Call has ended")
    if not call.provider_call_id:
        raise _failed("Call not connected")
    return call


async def _speak(m: CallManager, call: CallRecord, text: str,
                 say: Callable[[], Awaitable[None]] | None = None) -> None:
    """Speak ``text`` into the call (``say`` overrides the plain speak) and record it.

    A call that still rings is waited for (up to ``ringTimeoutMs`` and a margin), and so is
    its greeting: what is said after ``call`` is heard after the call's first words, on every
    provider."""
    pid = call.provider_call_id
    assert pid is not None
    if call.answered_at is None:
        answer_wait_s = m.settings.ring_timeout_ms / 1000 + ANSWER_WAIT_MARGIN_S
        with trio.move_on_after(answer_wait_s):
            await m.wait_until_answered(call)
        if call.answered_at is None and not call.is_terminal:
            raise ApiError(ErrorCode.TIMEOUT,
                           f"Call not answered within {answer_wait_s:g}s")
    greeting = m.greeting_in_flight.get(call.call_id)
    if greeting is not None:  # never talk over (or before) the greeting
        with trio.move_on_after(GREETING_WAIT_S):
            await greeting.wait()
    if call.is_terminal:
        raise _failed(f"Call ended: {call.end_reason}")
    m.move(call, CallState.SPEAKING)
    try:
        await (say() if say is not None else m.speech.speak(call.call_id, pid, text))
    except Exception as exc:
        if not call.is_terminal:
            m.move(call, CallState.LISTENING)
        raise _failed(str(exc) or "speak failed") from None
    if not call.is_terminal:
        m.add_transcript(call, TranscriptEntry(m.now_ms(), "bot", text))


async def say(m: CallManager, call: CallRecord, text: str) -> None:
    """Speak into a live call on the daemon's own behalf (auto-replies)."""
    if call.is_terminal or not call.provider_call_id:
        raise _failed("Call has ended")
    await _speak(m, call, text)


async def speak(m: CallManager, req: SpeakRequest) -> dict[str, Any]:
    await _speak(m, connected_call(m, req.callId), req.message)
    return SuccessResult(success=True).to_json()


async def continue_call(m: CallManager, req: ContinueRequest) -> dict[str, Any]:
    call = connected_call(m, req.callId)
    if call.call_id in m.waiters:
        raise ApiError(ErrorCode.CONFLICT, "Already waiting for transcript")
    timeout_ms = req.timeoutMs or m.settings.transcript_timeout_ms
    accept = req.accept or "speech"
    waiter = TurnWaiter(m.new_turn_token(), accept)
    m.waiters[call.call_id] = waiter
    turn_started = m.now_ms()
    try:
        listen_started = await _speak_then_listen(m, call, req.message, waiter.turn_token,
                                                  accept)
        with trio.move_on_after(timeout_ms / 1000) as scope:
            transcript = await waiter.wait()
        if scope.cancelled_caught:
            raise ApiError(ErrorCode.TIMEOUT,
                           f"Timed out waiting for transcript after {timeout_ms}ms")
    except TurnFailed as exc:
        raise _failed(str(exc)) from None
    finally:
        if m.waiters.get(call.call_id) is waiter:
            del m.waiters[call.call_id]
        if not call.is_terminal and call.provider_call_id:
            # Best effort, as in the reference; shielded so a cancelled turn still stops.
            with trio.CancelScope(shield=True), trio.move_on_after(5), \
                    contextlib.suppress(Exception):
                await m.speech.stop_listening(call.call_id, call.provider_call_id)
    _record_turn(m, call, turn_started, listen_started)
    if accept == "speech":  # the answer's shape of old: it can only be speech
        return ContinueResult(success=True, transcript=transcript).to_json()
    digits = transcript if waiter.input == "dtmf" else None
    return ContinueResult(success=True, transcript=transcript, input=waiter.input,
                          digits=digits).to_json()


async def _speak_then_listen(m: CallManager, call: CallRecord, text: str,
                             turn_token: str | None, accept: str = "speech") -> int:
    """Say ``text``, then listen for the caller; returns when listening began (epoch ms).

    A provider that can do both in one command does (Twilio without a stream: one TwiML
    update, so the Gather does not cut the Say short); otherwise speak, then listen."""
    pid = call.provider_call_id
    assert pid is not None
    combined = m.speech.one_command(pid)
    if combined:
        await _speak(m, call, text,
                     lambda: m.speech.speak_and_listen(call.call_id, pid, text, turn_token,
                                                     accept))
    else:
        await _speak(m, call, text)
    if call.is_terminal:
        raise _failed(f"Call ended: {call.end_reason}")
    m.move(call, CallState.LISTENING)
    listen_started = m.now_ms()
    if not combined:
        try:
            await m.speech.start_listening(call.call_id, pid, turn_token, accept)
        except Exception as exc:  # the provider refused: a failed operation, as for speak
            raise _failed(str(exc) or "listening failed") from None
    return listen_started


def _record_turn(m: CallManager, call: CallRecord, turn_started: int, listen_started: int
                 ) -> None:
    now = m.now_ms()
    md = call.metadata
    md["turnCount"] = int(md.get("turnCount") or 0) + 1
    md["lastTurnLatencyMs"] = now - turn_started
    md["lastTurnListenWaitMs"] = now - listen_started
    md["lastTurnCompletedAt"] = now
    m.persist(call)
    m.publish(call, ev.CALL_TURN, {"turn": md["turnCount"], "latencyMs": md["lastTurnLatencyMs"],
                                   "listenWaitMs": md["lastTurnListenWaitMs"]})


async def end(m: CallManager, req: EndRequest) -> dict[str, Any]:
    call_id = resolve_call_id(m, req.callId)
    call = m.find(call_id)
    if call is None:
        if _stored_call(m, call_id) is not None:
            return SuccessResult(success=True).to_json()  # already ended
        raise ApiError(ErrorCode.CALL_NOT_FOUND, f"Call not found: {req.callId}")
    if not call.provider_call_id:
        raise _failed("Call not connected")
    try:
        await m.hang_up(call, CallState.HANGUP_BOT.value)
    except StoreError as exc:  # hung up at the carrier, but the end could not be recorded
        raise store_unavailable(exc, "the call was hung up; its end is recorded once the "
                                "store can be written (at the latest on restart)") from None
    except Exception as exc:
        raise _failed(f"hang-up failed: {exc}") from None
    return SuccessResult(success=True).to_json()


def status(m: CallManager, req: StatusRequest) -> dict[str, Any]:
    if req.callId is None:
        return {"calls": m.snapshot()}
    call_id = resolve_call_id(m, req.callId)
    call = m.find(call_id)
    if call is not None:
        return StatusResult(found=True, call=call.to_view()).to_json()
    stored = _stored_call(m, call_id)
    if stored is None:
        return StatusResult(found=False).to_json()
    return StatusResult(found=True, call=_view(stored)).to_json()


def calls(m: CallManager, req: CallsRequest) -> dict[str, Any]:
    """Past and present calls from the store (every change is persisted before it is
    published, so the store is as current as the live records), newest first."""
    state = req.state
    states = ended = None
    if state == "active" or state == "ended":
        ended = state == "ended"
    elif state is not None:
        if state not in CallState._value2member_map_:
            names = ", ".join([*CALL_STATE_GROUPS, *(s.value for s in CallState)])
            raise ApiError(ErrorCode.BAD_REQUEST, f"state must be one of {names}")
        states = frozenset({state})
    records = m.store.list_calls(limit=req.limit or DEFAULT_CALL_LIST, states=states,
                                 ended=ended, since_ms=req.since)
    return CallsResult(calls=tuple(_view(record) for record in records)).to_json()


def _view(stored: dict[str, Any]) -> CallView:
    """A stored call record as the control API shows it (no internal bookkeeping)."""
    return CallView.from_json(stored)
