"""One simulated Telnyx call in motion: ring and answer (or fail), the commands' effects, the
callee's replies, the media stream, and the end.

Outbound: ``call.initiated`` (state ``bridging``) at once; after ``ring_delay_s +
answer_delay_s`` the :class:`CalleeScript`'s answer: ``call.answered`` and, when the dial asked
for one, the media stream; or ``call.hangup`` with ``user_busy`` / ``timeout`` /
``destination_out_of_order``. A pick-up later than ``timeout_secs`` is a ``timeout`` at
``timeout_secs``. A dial with ``answering_machine_detection`` gets its ``call.machine.*``
results after the answer (the script's ``answered_by`` and ``greeting_s``). Inbound:
``call.initiated`` (state ``parked``, direction ``incoming``) and then nothing until the app's
``answer``; an unanswered call is given up by the caller after the ring timeout
(``originator_cancel``).

``hangup_source`` names the party that ended the call: the app is the ``caller`` of an
outgoing call and the ``callee`` of an incoming one; the simulated person is the other.

Commands (already validated by the simulator) arrive as method calls: :meth:`answer`,
:meth:`speak` (queued after the speech in progress; ``call.speak.started``, then
``call.speak.ended`` after ``len(text) * say_seconds_per_char``), :meth:`transcription_start`
(the callee's next reply as ``call.transcription`` events once speech is over),
:meth:`streaming_start` / :meth:`streaming_stop`, :meth:`hangup`.

Resource handling: the call's tasks (ringing, speech, replies) run in the simulator's nursery
under cancel scopes (a :class:`~voicecall_cli.simulator.tasks.CallTasks`) that :meth:`end`
cancels. The media stream (only when the callee script streams audio) runs under a scope of its
own: ending the call stops it cleanly (Telnyx's ``stop`` frame, then close);
:meth:`end_on_carrier` cancels it outright. Webhooks go through the call's
:class:`~voicecall_cli.simulator.telnyx.webhooks.EventOutbox`, which outlives the call's tasks
so ``call.hangup`` is always delivered (except after :meth:`end_on_carrier`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import trio
import trio_websocket

from voicecall_cli.simulator.caller import talk_on_stream
from voicecall_cli.simulator.tasks import CallTasks
from voicecall_cli.simulator.telnyx.call import (
    SIP_HANGUP_CAUSES,
    CalleeScript,
    SimCall,
    StreamRequest,
)
from voicecall_cli.simulator.telnyx.media import TelnyxMediaStream, open_telnyx_media_stream
from voicecall_cli.simulator.telnyx.webhooks import EventOutbox, iso8601

ANSWER_CAUSES = {"busy": "user_busy", "no-answer": "timeout", "failed": "destination_out_of_order"}


class CallRunner:
    """Drives one :class:`SimCall`; created and owned by the simulator."""

    def __init__(self, call: SimCall, *, script: CalleeScript, outbox: EventOutbox,
                 nursery: trio.Nursery, clock_ms: Callable[[], int],
                 on_change: Callable[[], None]) -> None:
        self.call = call
        self.script = script
        self._outbox = outbox
        self._nursery = nursery
        self._clock_ms = clock_ms
        self._on_change = on_change
        self._tasks = CallTasks(nursery, ended=lambda: call.ended)
        self._stream_request: StreamRequest | None = None  # asked for, not opened yet
        self._stream_scope: trio.CancelScope | None = None  # the socket's task
        self._talk_scope: trio.CancelScope | None = None  # the caller's talking in it
        self._media: TelnyxMediaStream | None = None  # the stream while it is open
        self._stream_reported = False  # streaming.started sent, streaming.stopped not yet
        self._speech: list[str] = []  # speak texts queued behind the one playing
        self._speaking: str | None = None
        self._speech_changed = trio.Event()
        self._reply_pending = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start_outbound(self, stream: StreamRequest | None) -> None:
        self._stream_request = stream
        self._outbox.start()
        self.call.status_history.append(self.call.state)
        self._emit("call.initiated", start_time=iso8601(self.call.created_ms))
        self._tasks.spawn(self._ring)

    def start_inbound(self, ring_timeout_s: float) -> None:
        self._outbox.start()
        self.call.status_history.append(self.call.state)
        self._emit("call.initiated", start_time=iso8601(self.call.created_ms))
        self._tasks.spawn(self._give_up_ringing, ring_timeout_s)

    async def _ring(self) -> None:
        script, timeout = self.script, self.call.timeout_s
        if script.answer is True and script.ring_delay_s + script.answer_delay_s >= timeout:
            await trio.sleep(timeout)
            self.end("timeout", "callee")
            return
        await trio.sleep(script.ring_delay_s + script.answer_delay_s)
        if script.answer is not True:
            self.end(ANSWER_CAUSES[str(script.answer)], "callee")
            return
        self._answered()

    async def _give_up_ringing(self, ring_timeout_s: float) -> None:
        await trio.sleep(ring_timeout_s)
        if not self.call.answered:
            self.end("originator_cancel", "caller")

    def _answered(self) -> None:
        self.call.answered_ms = self._clock_ms()
        self._set_state("answered")
        self._emit("call.answered", start_time=iso8601(self.call.created_ms))
        if self._stream_request is not None:
            self._open_stream(self._stream_request)
        if self.call.answering_machine_detection:
            self._tasks.spawn(self._detect_machine)

    async def _detect_machine(self) -> None:
        """``call.machine.detection.ended`` (human or machine) at once; a machine's greeting
        plays ``greeting_s``, then (``detect_beep``) ``call.machine.greeting.ended``."""
        call = self.call
        if self.script.answered_by == "human":
            self._emit("call.machine.detection.ended", result="human")
            return
        call.greeting_playing = True
        self._emit("call.machine.detection.ended", result="machine")
        await trio.sleep(self.script.greeting_s)
        call.greeting_playing = False
        self._on_change()
        if call.answering_machine_detection == "detect_beep":
            self._emit("call.machine.greeting.ended", result="beep_detected")

    def end(self, cause: str, source: str) -> None:
        """End the call (idempotent): cancel its tasks, stop the stream, send ``call.hangup``."""
        call = self.call
        if call.ended:
            return
        call.ended_ms = self._clock_ms()
        call.hangup_cause, call.hangup_source = cause, source
        self._stop_tasks()
        if self._speaking:  # cut off mid-sentence
            self._emit("call.speak.ended", status="call_hangup")
        self.streaming_stop()
        self._set_state("hangup")
        self._emit("call.hangup", hangup_cause=cause, hangup_source=source,
                   sip_hangup_cause=SIP_HANGUP_CAUSES.get(cause, "unspecified"),
                   start_time=iso8601(call.created_ms), end_time=iso8601(call.ended_ms))
        self._outbox.close()

    def end_on_carrier(self) -> None:
        """The call is gone on Telnyx's side and no webhook says so."""
        call = self.call
        if call.ended:
            return
        call.ended_ms = self._clock_ms()
        call.ended_on_carrier = True
        self._stop_tasks()
        if self._stream_scope is not None:
            self._stream_scope.cancel()
        self._outbox.abandon()
        self._set_state("hangup")

    def person_hangs_up(self) -> None:
        """The simulated person hangs up (or, before an answer, declines or gives up)."""
        incoming = self.call.direction == "incoming"
        if self.call.answered:
            self.end("normal_clearing", "caller" if incoming else "callee")
        elif incoming:
            self.end("originator_cancel", "caller")
        else:
            self.end("call_rejected", "callee")

    # -- commands -------------------------------------------------------------------------------

    def answer(self, stream: StreamRequest | None) -> None:
        if stream is not None:
            self._stream_request = stream
        self._answered()

    def hangup(self) -> None:
        self.call.hangups += 1
        app = "callee" if self.call.direction == "incoming" else "caller"
        if self.call.answered:
            self.end("normal_clearing", app)
        elif self.call.direction == "incoming":
            self.end("call_rejected", app)
        else:
            self.end("originator_cancel", app)

    def speak(self, text: str) -> None:
        self._speech.append(text)
        if self._speaking is None:
            self._speaking = ""  # reserved until the speaker task takes the first text
            self._tasks.spawn(self._speaker)
        self._speech_event()

    def transcription_start(self) -> None:
        self.call.transcribing = True
        self._on_change()
        if self._streams_audio() or self._reply_pending:
            return
        if len(self.call.replies) < len(self.script.replies):
            self._reply_pending = True
            self._tasks.spawn(self._reply_when_quiet)

    def transcription_stop(self) -> None:
        self.call.transcribing = False
        self._on_change()

    def streaming_start(self, stream: StreamRequest) -> None:
        self.streaming_stop()
        self._stream_request = stream
        if self.call.answered:
            self._open_stream(stream)

    def streaming_stop(self) -> None:
        self._stream_request = None
        if self._talk_scope is not None:
            self._talk_scope.cancel()
        if self._stream_reported:
            self._stream_reported = False
            self._emit("streaming.stopped", stream_url=self.call.stream.url
                       if self.call.stream else None)

    def press(self, digits: str) -> None:
        """The person presses keys: ``call.dtmf.received`` per digit (and a ``dtmf`` frame on a
        stream the simulator is talking on)."""
        for digit in digits:
            self._emit("call.dtmf.received", digit=digit)
            if self._media is not None:
                self._nursery.start_soon(self._send_dtmf_frame, self._media, digit)

    @staticmethod
    async def _send_dtmf_frame(media: TelnyxMediaStream, digit: str) -> None:
        with suppress(trio_websocket.ConnectionClosed):
            await media.send_dtmf(digit)

    # -- speech and replies ---------------------------------------------------------------------

    async def _speaker(self) -> None:
        while self._speech:
            text = self._speech.pop(0)
            self._speaking = text
            self.call.spoken.append(text)
            if self.call.greeting_playing:
                self.call.spoken_over_greeting.append(text)
            self._emit("call.speak.started")
            await trio.sleep(len(text) * self.script.say_seconds_per_char)
            self._emit("call.speak.ended", status="completed")
        self._speaking = None
        self._speech_event()

    async def _reply_when_quiet(self) -> None:
        try:
            while True:
                while self._speaking is not None:
                    await self._speech_changed.wait()
                await trio.sleep(self.script.reply_delay_s)
                if self._speaking is None:
                    break  # still quiet: the callee speaks now
            if not self.call.transcribing or self.call.ended:
                return  # nobody listens: the reply is kept for the next transcription_start
            reply = self.script.replies[len(self.call.replies)]
            words = reply.split()
            if self.script.partials and len(words) > 1:
                self._transcription(" ".join(words[:len(words) // 2]), is_final=False)
            self._transcription(reply, is_final=True)
            self._give_reply(reply)
        finally:
            self._reply_pending = False

    def _transcription(self, transcript: str, *, is_final: bool) -> None:
        self._emit("call.transcription", transcription_data={
            "transcript": transcript, "is_final": is_final,
            "confidence": self.script.confidence})

    def _give_reply(self, reply: str) -> None:
        self.call.replies.append(reply)
        self._on_change()
        limit = self.script.hangup_after_replies
        if limit is not None and len(self.call.replies) >= limit:
            self._tasks.spawn(self._hang_up_later)

    async def _hang_up_later(self) -> None:
        await trio.sleep(self.script.reply_delay_s)
        self.person_hangs_up()

    def _speech_event(self) -> None:
        self._speech_changed.set()
        self._speech_changed = trio.Event()

    # -- the media stream -----------------------------------------------------------------------

    def _streams_audio(self) -> bool:
        return self.script.stream_audio and (
            self._stream_request is not None or self.call.stream is not None)

    def _open_stream(self, request: StreamRequest) -> None:
        self._stream_request = None
        self.call.stream = request
        self._on_change()
        if not self.script.stream_audio:
            return  # a test plays Telnyx's side itself (open_telnyx_media_stream)
        scope, talk = trio.CancelScope(), trio.CancelScope()
        self._stream_scope, self._talk_scope = scope, talk

        async def run() -> None:
            with scope:
                await self._talk_over_stream(request, talk)

        self._nursery.start_soon(run)

    async def _talk_over_stream(self, request: StreamRequest, talk: trio.CancelScope) -> None:
        """Be the caller on the media stream (see ``CalleeScript.stream_audio``) until ``talk``
        is cancelled (streaming_stop, the end of the call) or the app closes the socket."""
        call = self.call
        stream_id = str(uuid.uuid4())
        if talk.cancel_called:
            return  # stopped before it opened
        try:
            async with open_telnyx_media_stream(
                    request.url, call_control_id=call.call_control_id, token=request.token,
                    client_state=call.client_state, stream_id=stream_id,
                    call_session_id=call.call_session_id, from_=call.from_, to=call.to,
                    bidirectional=request.bidirectional,
                    reorder_every=self.script.reorder_every) as stream:
                self._media = stream
                self._stream_reported = True
                self._emit("streaming.started", stream_url=request.url)
                with talk:
                    await self._talk(stream)
                errors = stream.errors
        except Exception as exc:  # refused, unreachable, closed under us
            call.errors.append(f"media stream: {exc!r}")
            if not self._stream_reported and not call.ended:
                self._emit("streaming.failed", failure_reason=str(exc) or type(exc).__name__,
                           stream_id=stream_id, stream_type="websocket")
        else:
            call.errors.extend(f"media stream: {error}" for error in errors)
        finally:
            self._media = None
            if self._talk_scope is talk:
                self._talk_scope = None
            if self._stream_reported and not call.ended:
                self._stream_reported = False
                self._emit("streaming.stopped", stream_url=request.url)
            self._on_change()

    async def _talk(self, stream: TelnyxMediaStream) -> None:
        """The caller's voice (:func:`~voicecall_cli.simulator.caller.talk_on_stream`) until
        the socket closes; silence goes through ``send_media``, which numbers and may reorder
        it."""
        with suppress(trio_websocket.ConnectionClosed):
            await talk_on_stream(stream, self.script, given=self.call.replies,
                                 give_reply=self._give_reply, send_silence=stream.send_media)

    # -- plumbing -------------------------------------------------------------------------------

    def _emit(self, event_type: str, **extra: Any) -> None:
        call = self.call
        payload = {"call_control_id": call.call_control_id, "call_leg_id": call.call_leg_id,
                   "call_session_id": call.call_session_id, "client_state": call.client_state,
                   "connection_id": call.connection_id, "direction": call.direction,
                   "from": call.from_, "to": call.to, "state": call.state, **extra}
        self._outbox.emit(event_type, payload, occurred_at=iso8601(self._clock_ms()),
                          url=call.webhook_url)

    def _set_state(self, state: str) -> None:
        self.call.state = state
        self.call.status_history.append(state)
        self._on_change()

    def _stop_tasks(self) -> None:
        self._tasks.cancel_all()
        self._reply_pending = False
