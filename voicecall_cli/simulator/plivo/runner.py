"""One simulated Plivo call in motion: its life (queued, ringing, answered or not, ended) and
what the app fetches for it; the XML itself is the
:class:`~voicecall_cli.simulator.plivo.interpreter.Program`'s.

Outbound: queued under its request uuid; ``ring_delay_s`` later it rings (the CallUUID is now
known: ``ring_url`` gets ``Event=Ring``), and ``answer_delay_s`` after that the
:class:`CalleeScript` answers (``answer_url`` gets ``CallStatus=in-progress``,
``Event=StartApp``, and its reply is the first document) or the call ends busy / no-answer /
failed. A pick-up later than the ring timeout (``ring_timeout``, or ``hangup_on_ring`` when
shorter) ends it ``timeout``. Inbound: the app's answer URL is fetched at once, the same way.

The answer URL is tried three times (``retry_delay_s`` apart) while it gives no 2xx answer,
then ``fallback_url`` once; if all fail the call ends "Error Reaching Answer URL". A failed
action, transfer or redirect fetch ends the call "Error Reaching ... URL"; a document that
breaks Plivo's rules ends it "Invalid ... XML" (both HangupSource ``Error``).

Endings (:meth:`CallRunner.end`) cancel the call's tasks, stop its streams (their
``StopStream`` first), then send one ``hangup_url`` request: ``CallStatus``, ``HangupCause``,
``HangupCauseName``, ``HangupCauseCode``, ``HangupSource`` (``Caller``, ``Callee``,
``API Request``, ``Answer XML``, ``Plivo``, ``Error``), ``Duration``, ``BillDuration``,
``StartTime``, ``AnswerTime``, ``EndTime``.

Resource handling: the call's tasks run in the simulator's nursery under cancel scopes (a
:class:`~voicecall_cli.simulator.tasks.CallTasks`) that :meth:`CallRunner.end` cancels; a
transfer cancels only the running document. Notifications go through the call's
:class:`~voicecall_cli.simulator.plivo.webhooks.Outbox`, which outlives the call's tasks so the
hangup request is always sent (except after :meth:`CallRunner.end_on_carrier`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import trio

from voicecall_cli.simulator.plivo.call import CAUSES, CalleeScript, SimCall, WebhookDelivery
from voicecall_cli.simulator.plivo.interpreter import EVENTS, Fetch, Program
from voicecall_cli.simulator.plivo.streams import CallStreams
from voicecall_cli.simulator.plivo.webhooks import (
    Outbox,
    WebhookSender,
    plivo_time,
    session_time,
)
from voicecall_cli.simulator.tasks import CallTasks

ANSWER_ATTEMPTS = 3
OUTCOMES = {"busy": ("busy", "busy", "Callee"), "no-answer": ("no-answer", "no_answer", "Callee"),
            "failed": ("failed", "out_of_service", "Carrier")}


class CallRunner:
    """Drives one :class:`SimCall`; created and owned by the simulator."""

    def __init__(self, call: SimCall, *, script: CalleeScript, sender: WebhookSender,
                 outbox: Outbox, account_id: str, nursery: trio.Nursery,
                 clock_ms: Callable[[], int], time_factor: Callable[[], float],
                 retry_delay_s: Callable[[], float], on_change: Callable[[], None]) -> None:
        self.call = call
        self.script = script
        self._sender = sender
        self._outbox = outbox
        self._nursery = nursery
        self._clock_ms = clock_ms
        self._time_factor = time_factor
        self._retry_delay_s = retry_delay_s
        self._on_change = on_change
        self._tasks = CallTasks(nursery, ended=lambda: call.ended)
        self.streams = CallStreams(call, script=script, account_id=account_id, nursery=nursery,
                                   notify=self.notify, clock_ms=clock_ms,
                                   time_factor=time_factor, give_reply=self.give_reply,
                                   on_change=on_change)
        self._program = Program(self)
        self._document: trio.CancelScope | None = None
        self._beep = trio.Event()  # set when a machine's greeting ended

    # -- entry points ---------------------------------------------------------------------------

    def start_outbound(self) -> None:
        self._outbox.start()
        self.call.status_history.append(self.call.status)
        self._tasks.spawn(self._outbound)

    def start_inbound(self) -> None:
        self._outbox.start()
        self._ringing()
        self._answered()

    def transfer(self, url: str, method: str) -> None:
        """A REST transfer: abandon the running document, fetch ``url`` (``Event=Transfer``)."""
        self.call.transfers.append(url)
        self._run_document(Fetch("transfer", url, method))

    def hangup_by_api(self) -> None:
        """``DELETE Call/<uuid>/``: ``completed`` once answered, ``cancel`` while ringing."""
        self.call.hangups += 1
        if self.call.answered:
            self.end("completed", "normal", "API Request")
        else:
            self.end("cancel", "canceled", "API Request")

    def cancel_request(self) -> None:
        """``DELETE Request/<uuid>/`` on a call not answered yet."""
        self.call.hangups += 1
        self.end("cancel", "canceled", "API Request")

    def person_hangs_up(self) -> None:
        """The simulated person hangs up (before an answer: declines, or gives up calling)."""
        outbound = self.call.direction == "outbound"
        if self.call.answered:
            self.end("completed", "normal", "Callee" if outbound else "Caller")
        elif outbound:
            self.end("busy", "rejected", "Callee")
        else:
            self.end("cancel", "canceled", "Caller")

    def press(self, digits: str) -> None:
        """The person presses keys: a listening GetInput gets them, open streams get ``dtmf``
        frames."""
        self._program.press(digits)  # no GetInput listening: nobody hears them
        for digit in digits:
            self.streams.press(digit)

    def end_on_carrier(self) -> None:
        """The call is gone on Plivo's side and no request tells the app."""
        call = self.call
        if call.ended:
            return
        call.ended_ms = self._clock_ms()
        call.ended_on_carrier = True
        call.cause, call.hangup_source = CAUSES["normal"], "Callee"
        self._tasks.cancel_all()
        self.streams.stop_all("Call ended", report=False)
        self._outbox.abandon()
        self._set_status("completed" if call.answered else "cancel")

    def end(self, status: str, cause: str, source: str) -> None:
        """End the call (idempotent): cancel its tasks, stop its streams, send the hangup."""
        call = self.call
        if call.ended:
            return
        call.ended_ms = self._clock_ms()
        call.cause, call.hangup_source = CAUSES[cause], source
        self._tasks.cancel_all()
        self._document = None
        self.streams.stop_all("Call ended")
        self._set_status(status)
        if call.hangup_url:
            self.notify("hangup", call.hangup_url, call.hangup_method, self._hangup_params())
        self._outbox.close()

    def reject(self, reason: str) -> None:
        """``<Hangup reason>`` as an inbound call's first element: refused, never answered."""
        self.call.answered_ms = None
        if reason == "busy":
            self.end("busy", "busy", "Answer XML")
        else:
            self.end("no-answer", "rejected", "Answer XML")

    def schedule_hangup(self, seconds: float) -> None:
        self._tasks.spawn(self._end_later, seconds, "scheduled", "Plivo")

    # -- what the interpreter uses --------------------------------------------------------------

    def time_factor(self) -> float:
        return self._time_factor()

    def changed(self) -> None:
        self._on_change()

    def params(self, event: str) -> dict[str, str]:
        """What Plivo sends with every request about this call."""
        call = self.call
        params = {"CallUUID": call.call_uuid, "From": call.from_, "To": call.to,
                  "Direction": call.direction, "CallStatus": call.status, "Event": event,
                  "CallerName": call.caller_name,
                  "SessionStart": session_time(call.ringing_ms or call.created_ms)}
        if call.request_uuid is not None:
            params.update(RequestUUID=call.request_uuid, ALegUUID=call.call_uuid,
                          ALegRequestUUID=call.request_uuid)
        return params

    def notify(self, kind: str, url: str, method: str, params: Mapping[str, str]) -> None:
        self._outbox.emit(kind, url, method, params)

    async def fetch_document(self, step: Fetch) -> str | None:
        params = {**self.params(EVENTS[step.kind]), **step.extra}
        targets = [(step.kind, step.url, step.method)] * (
            ANSWER_ATTEMPTS if step.kind == "answer" else 1)
        if step.kind == "answer" and self.call.fallback_url:
            targets.append(("fallback", self.call.fallback_url, self.call.fallback_method))
        problem = ""
        for attempt, (kind, url, method) in enumerate(targets):
            if attempt and kind == "answer":
                await trio.sleep(self._retry_delay_s())
            delivery = await self._sender.deliver(kind, url, method, params)
            self.record(delivery)
            if delivery.ok:
                return delivery.response_body
            problem = delivery.error or f"HTTP {delivery.status_code}"
            self.call.errors.append(f"{kind} URL {url} failed: {problem}")
        self.end("completed", f"{step.kind}_url", "Error")
        return None

    def give_reply(self, reply: str) -> None:
        self.call.replies.append(reply)
        self._on_change()
        limit = self.script.hangup_after_replies
        if limit is not None and len(self.call.replies) >= limit:
            self._tasks.spawn(self._person_hangs_up_later, self.script.reply_delay_s)

    def record(self, delivery: WebhookDelivery) -> None:
        self.call.webhooks.append(delivery)
        self._on_change()

    # -- lifecycle ------------------------------------------------------------------------------

    async def _outbound(self) -> None:
        script, call = self.script, self.call
        await trio.sleep(script.ring_delay_s)
        self._ringing()
        if call.ring_url:
            self.record(await self._sender.deliver("ring", call.ring_url, call.ring_method,
                                                   self.params("Ring")))
        if script.answer is True and script.answer_delay_s >= call.ring_timeout_s:
            await trio.sleep(call.ring_timeout_s)
            self.end("timeout", "ring_timeout", "Plivo")
            return
        await trio.sleep(script.answer_delay_s)
        if script.answer is not True:
            self.end(*OUTCOMES[str(script.answer)])
            return
        self._answered()

    def _ringing(self) -> None:
        self.call.ringing_ms = self._clock_ms()
        self._set_status("ringing")

    def _answered(self) -> None:
        call = self.call
        call.answered_ms = self._clock_ms()
        self._set_status("in-progress")
        if call.time_limit_s:
            self._tasks.spawn(self._end_later, float(call.time_limit_s), "scheduled", "Plivo")
        if self.script.hangup_after_s is not None:
            self._tasks.spawn(self._person_hangs_up_later, self.script.hangup_after_s)
        self._run_document(Fetch("answer", call.answer_url, call.answer_method))
        if call.machine_detection and call.machine_detection_url:
            self._tasks.spawn(self._detect_machine)

    async def _detect_machine(self) -> None:
        """Asynchronous machine detection: ``Machine`` (true/false) to the
        ``machine_detection_url`` at once; a machine's greeting then plays ``greeting_s``
        (its beep ends a ``<Wait beep="true">``)."""
        call = self.call
        machine = self.script.answered_by == "machine"
        call.greeting_playing = machine
        url = call.machine_detection_url
        assert url is not None
        self.notify("machine", url, call.machine_detection_method,
                    {**self.params("MachineDetection"), "Machine": str(machine).lower(),
                     "IfMachine": "hangup" if call.machine_detection == "hangup"
                     else "continue"})
        if machine:
            await trio.sleep(self.script.greeting_s)
            call.greeting_playing = False
            self._beep.set()
            self._on_change()

    async def wait_for_beep(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            await self._beep.wait()

    def _run_document(self, step: Fetch) -> None:
        if self._document is not None:
            self._document.cancel()
        self._document = self._tasks.spawn(self._program.run, step)

    async def _end_later(self, seconds: float, cause: str, source: str) -> None:
        await trio.sleep(seconds)
        self.end("completed", cause, source)

    async def _person_hangs_up_later(self, seconds: float) -> None:
        await trio.sleep(seconds)
        self.person_hangs_up()

    def _hangup_params(self) -> dict[str, str]:
        call = self.call
        cause = call.cause or CAUSES["normal"]
        return {**self.params("Hangup"), "HangupCause": cause.cause,
                "HangupCauseName": cause.name, "HangupCauseCode": str(cause.code),
                "HangupSource": call.hangup_source or "Unknown",
                "Duration": str(call.duration_s), "BillDuration": str(call.bill_duration_s),
                "StartTime": plivo_time(call.ringing_ms or call.created_ms),
                "AnswerTime": plivo_time(call.answered_ms), "EndTime": plivo_time(call.ended_ms)}

    def _set_status(self, status: str) -> None:
        self.call.status = status
        self.call.status_history.append(status)
        self._on_change()
