"""One simulated Twilio call in motion: its lifecycle (ring, answer or fail, end) and the TwiML
interpreter that runs what the webhooks and REST updates return.

Verbs understood: ``Say`` (recorded, takes ``len(text) * say_seconds_per_char``), ``Play``
(recorded; ``loop="0"`` holds the call; ``digits`` recorded in ``digits_played`` as written,
played at :data:`DIGIT_S` a character: the simulator does not wait out ``w`` pauses),
``Pause``, ``Redirect``, ``Gather`` (``input`` speech and/or dtmf: keys from
:meth:`CallRunner.press`, cut at ``finishOnKey``,
``action`` (default: the current document's URL), ``timeout`` (default 5 s), nested
``Say``/``Play``/``Pause`` as the prompt), ``Hangup``, ``Reject``, ``Connect``/``Stream``
(recorded, then held until :meth:`CallRunner.end_stream`), ``Enqueue`` (recorded; its
``waitUrl`` is fetched and its ``Say``/``Play``/``Pause`` run while the call waits; when the
call leaves the queue (a REST update: ``redirected``; the caller hangs up: ``hangup``) its
``action`` gets a POST with ``QueueResult``, whose reply is ignored). Other
verbs are recorded in ``unsupported_verbs`` and skipped. Running out of verbs ends the call, as
on Twilio. Redirects and Gather actions are always POSTed.

Resource handling: every task of a call runs in the simulator's nursery under its own cancel
scope (a :class:`~voicecall_cli.simulator.tasks.CallTasks`); :meth:`CallRunner.end` cancels them
all, then sends the final status callback in a task of its own (so it is not cancelled with the
call). A REST update cancels only the running TwiML program and starts the new one. While the
callee streams audio, its voice is :func:`~voicecall_cli.simulator.caller.talk_on_stream`.
Answering-machine detection runs as one of the call's tasks (:mod:`.amd`); a queued call's
seat is a :class:`~.queue.QueueSeat`.
"""

from __future__ import annotations

import contextlib
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urljoin

import trio

from voicecall_cli.simulator.tasks import CallTasks
from voicecall_cli.simulator.twilio.amd import detect_machine
from voicecall_cli.simulator.twilio.call import CalleeScript, SimCall, StreamRequest
from voicecall_cli.simulator.twilio.queue import QueueSeat
from voicecall_cli.simulator.twilio.webhooks import WebhookSender, call_params, rfc2822

HOLD_VERBS = ("Say", "Play", "Pause")  # what a Gather may hold as its prompt
DIGIT_S = 0.01  # how long <Play digits> takes per character here


@dataclass(frozen=True, slots=True)
class _Fetch:
    """Next program step: POST ``url`` (with ``extra`` form params) and run what it returns."""

    url: str
    extra: dict[str, str] = field(default_factory=dict)
    after: trio.Event | None = None  # wait for this first (the answered status callback)


@dataclass(frozen=True, slots=True)
class _Document:
    """Next program step: run this TwiML; relative URLs in it resolve against ``base_url``."""

    text: str
    base_url: str
    after: trio.Event | None = None


_DONE = object()  # a verb ended the document and the program (Hangup, Reject)


def _seconds(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


class CallRunner:
    """Drives one :class:`SimCall`; created and owned by the simulator."""

    def __init__(self, call: SimCall, *, script: CalleeScript, sender: WebhookSender,
                 account_sid: str, nursery: trio.Nursery, clock_ms: Callable[[], int],
                 on_change: Callable[[], None]) -> None:
        self.call = call
        self.script = script
        self._sender = sender
        self._account_sid = account_sid
        self._nursery = nursery
        self._clock_ms = clock_ms
        self._on_change = on_change
        self._tasks = CallTasks(nursery, ended=lambda: call.ended)
        self._program: trio.CancelScope | None = None
        self._stream_done = trio.Event()
        self._sequence = 0
        self._queue = QueueSeat(call, sender=sender, nursery=nursery, clock_ms=clock_ms,
                                on_change=on_change)
        self._pressed = ""  # keys pressed while a Gather listens for dtmf
        self._listening_keys = False
        self._keys = trio.Event()
        self._media: Any = None  # the stream the callee talks on, while open

    # -- entry points ---------------------------------------------------------------------------

    def start_outbound(self, twiml: str | None = None) -> None:
        """Ring the callee; once answered, run ``twiml`` if given, else fetch the call's Url."""
        self._tasks.spawn(self._outbound, twiml)

    def start_inbound(self) -> None:
        self._set_status("ringing")
        self._replace_program(_Fetch(self.call.url or ""))

    def run_twiml(self, twiml: str) -> None:
        """A REST update with ``Twiml``: interrupt the running TwiML and run this instead."""
        self._replace_program(_Document(twiml, self.call.url or ""))

    def run_url(self, url: str) -> None:
        """A REST update with ``Url``: interrupt the running TwiML and fetch this URL."""
        self._replace_program(_Fetch(url))

    def press(self, digits: str) -> None:
        """The person presses keys (see ``TwilioSimulator.press``)."""
        if self._listening_keys:
            self._pressed += digits
            self._keys.set()
        media = self._media
        if media is not None:
            self._nursery.start_soon(self._send_keys, media, digits)

    @staticmethod
    async def _send_keys(media: Any, digits: str) -> None:
        import trio_websocket

        with contextlib.suppress(trio_websocket.ConnectionClosed):
            for digit in digits:
                await media.send_dtmf(digit)

    def end_stream(self) -> None:
        """The media stream closed: a held ``<Connect><Stream>`` finishes, the TwiML goes on."""
        self._stream_done.set()

    def end(self, status: str) -> None:
        """End the call with ``status`` (idempotent): cancel its tasks, report ``completed``."""
        if self.call.ended:
            return
        self.call.ended_ms = self._clock_ms()
        self._set_status(status)
        self._tasks.cancel_all()
        self._program = None
        self._queue.leave("hangup", self._params())
        self._nursery.start_soon(self._status_callback, "completed")

    # -- lifecycle ------------------------------------------------------------------------------

    async def _outbound(self, twiml: str | None) -> None:
        await self._status_callback("initiated")
        await trio.sleep(self.script.ring_delay_s)
        self._set_status("ringing")
        await self._status_callback("ringing")
        answer = self.script.answer
        if answer is True and self.script.answer_delay_s >= self.call.timeout_s:
            await trio.sleep(self.call.timeout_s)
            self.end("no-answer")
            return
        await trio.sleep(self.script.answer_delay_s)
        if answer is not True:
            self.end(str(answer))
            return
        answered_delivered = trio.Event()
        self._mark_answered()
        url = self.call.url or ""
        self._replace_program(_Document(twiml, url, after=answered_delivered) if twiml
                              else _Fetch(url, after=answered_delivered))
        if self.call.machine_detection and self.call.amd_callback:
            self._tasks.spawn(partial(detect_machine, self.call, self.script,
                                      account_sid=self._account_sid, sender=self._sender,
                                      on_change=self._on_change))
        await self._status_callback("answered")
        answered_delivered.set()

    def _mark_answered(self) -> None:
        self.call.answered_ms = self._clock_ms()
        self._set_status("in-progress")

    def _set_status(self, status: str) -> None:
        self.call.status = status
        self.call.status_history.append(status)
        self._on_change()

    async def _status_callback(self, event: str) -> None:
        call = self.call
        if call.status_callback is None or event not in call.status_callback_events:
            return
        self._sequence += 1
        params = self._params()
        if event == "initiated":
            params["CallStatus"] = "initiated"
        params.update(CallbackSource="call-progress-events", SequenceNumber=str(self._sequence),
                      Timestamp=rfc2822(self._clock_ms()))
        if event == "completed":
            params["CallDuration"] = str(call.duration_s)
        delivery = await self._sender.post(call.status_callback, params)
        call.callbacks.append(delivery)
        self._on_change()

    def _params(self) -> dict[str, str]:
        call = self.call
        return call_params(account_sid=self._account_sid, call_sid=call.sid, status=call.status,
                           direction=call.direction, from_=call.from_, to=call.to)

    # -- the TwiML program ----------------------------------------------------------------------

    def _replace_program(self, first: _Fetch | _Document) -> None:
        if self._program is not None:
            self._program.cancel()
        self._queue.leave("redirected", self._params())
        self._program = self._tasks.spawn(self._run_program, first)

    async def _run_program(self, step: _Fetch | _Document | None) -> None:
        while step is not None:
            if step.after is not None:
                await step.after.wait()
            if isinstance(step, _Fetch):
                text = await self._fetch(step.url, step.extra)
                if text is None:
                    self.end("completed" if self.call.answered else "failed")
                    return
                step = _Document(text, step.url)
            step = await self._run_document(step)
        self.end("completed")  # out of verbs (or a verb already ended the call)

    async def _fetch(self, url: str, extra: Mapping[str, str]) -> str | None:
        delivery = await self._sender.post(url, {**self._params(), **extra})
        self.call.webhooks.append(delivery)
        self._on_change()
        if not delivery.ok:
            problem = delivery.error or f"HTTP {delivery.status_code}"
            self._error(f"webhook {url} failed: {problem}")
            return None
        return delivery.body

    async def _run_document(self, doc: _Document) -> _Fetch | None:
        self.call.twiml.append(doc.text)
        self._on_change()
        try:
            root = ET.fromstring(doc.text.encode())
        except ET.ParseError as exc:
            self._error(f"unparseable TwiML: {exc}")
            return None
        if root.tag != "Response":
            self._error(f"TwiML root is <{root.tag}>, not <Response>")
            return None
        for verb in root:
            if self.call.status == "ringing" and verb.tag != "Reject":
                self._mark_answered()  # an inbound call is answered by its first real verb
                self._tasks.spawn(self._status_callback, "answered")
            outcome = await self._run_verb(verb, doc.base_url)
            if outcome is _DONE:
                return None
            if isinstance(outcome, _Fetch):
                return outcome
        return None

    async def _run_verb(self, verb: ET.Element, base_url: str) -> Any:
        tag = verb.tag
        text = (verb.text or "").strip()
        if tag == "Say":
            self.call.spoken.append(text)
            if self.call.greeting_playing:
                self.call.spoken_over_greeting.append(text)
            self._on_change()
            await trio.sleep(len(text) * self.script.say_seconds_per_char)
        elif tag == "Play" and verb.get("digits") is not None:
            digits = verb.get("digits", "")
            self.call.digits_played.append(digits)
            self._on_change()
            await trio.sleep(DIGIT_S * len(digits))
        elif tag == "Play":
            self.call.played.append(text)
            self._on_change()
            if verb.get("loop") == "0":
                await trio.sleep_forever()
        elif tag == "Pause":
            await trio.sleep(_seconds(verb.get("length"), 1.0))
        elif tag == "Redirect":
            return _Fetch(urljoin(base_url, text))
        elif tag == "Gather":
            return await self._gather(verb, base_url)
        elif tag == "Hangup":
            self.end("completed")
            return _DONE
        elif tag == "Reject":
            rejected = "busy" if verb.get("reason") == "busy" else "no-answer"
            self.end(rejected if self.call.status == "ringing" else "completed")
            return _DONE
        elif tag == "Connect":
            await self._connect(verb)
        elif tag == "Enqueue":
            await self._enqueue(verb, text, base_url)
        else:
            self.call.unsupported_verbs.append(tag)
            self._on_change()
        return None

    async def _enqueue(self, verb: ET.Element, queue: str, base_url: str) -> None:
        """Wait in ``queue`` (until the program is replaced or the call ends), hearing what
        the ``waitUrl`` answers."""
        action = verb.get("action")
        self._queue.sit(queue, urljoin(base_url, action) if action else None)
        wait_url = verb.get("waitUrl")
        if wait_url:
            text = await self._fetch(urljoin(base_url, wait_url), self._queue.params())
            if text is not None:
                try:
                    verbs = list(ET.fromstring(text.encode()))
                except ET.ParseError as exc:
                    verbs = []
                    self._error(f"unparseable waitUrl TwiML: {exc}")
                self.call.twiml.append(text)
                for wait_verb in verbs:
                    if wait_verb.tag in HOLD_VERBS:
                        await self._run_verb(wait_verb, base_url)
        await trio.sleep_forever()

    async def _gather(self, verb: ET.Element, base_url: str) -> _Fetch | None:
        action = urljoin(base_url, verb.get("action") or base_url)
        self.call.gather_actions.append(action)
        inputs = (verb.get("input") or "dtmf").split()
        # keys pressed during the prompt count too (they cut it short on Twilio)
        self._pressed, self._keys = "", trio.Event()
        self._listening_keys = self.call.listening_keys = "dtmf" in inputs
        self._on_change()
        try:
            with trio.move_on_at(math.inf) as prompt:
                async with trio.open_nursery() as nursery:
                    async def prompt_cut_short() -> None:
                        await self._keys.wait()
                        prompt.cancel()
                    nursery.start_soon(prompt_cut_short)
                    for child in verb:
                        if child.tag in HOLD_VERBS:
                            await self._run_verb(child, base_url)
                    nursery.cancel_scope.cancel()
            timeout = _seconds(verb.get("timeout"), 5.0)
            reply = self._next_reply() if "speech" in inputs else None
            if reply is not None and self.script.reply_delay_s > timeout:
                reply = None
            now = trio.current_time()
            reply_at = now + self.script.reply_delay_s if reply is not None else None
            with trio.move_on_at(now + timeout if reply_at is None else reply_at):
                await self._keys.wait()
        finally:
            self._listening_keys = self.call.listening_keys = False
            self._on_change()
        if self._pressed:
            finish = verb.get("finishOnKey", "#")
            keys = self._pressed.split(finish, 1)[0] if finish else self._pressed
            self.call.digits.append(keys)
            self._on_change()
            return _Fetch(action, {"Digits": keys})
        if reply is None:
            return _Fetch(action) if verb.get("actionOnEmptyResult") == "true" else None
        self._give_reply(reply)
        return _Fetch(action, {"SpeechResult": reply,
                               "Confidence": f"{self.script.confidence:.2f}"})

    def _next_reply(self) -> str | None:
        given = len(self.call.replies)
        return self.script.replies[given] if given < len(self.script.replies) else None

    def _give_reply(self, reply: str) -> None:
        self.call.replies.append(reply)
        self._on_change()
        limit = self.script.hangup_after_replies
        if limit is not None and len(self.call.replies) >= limit:
            self._tasks.spawn(self._hang_up_later)

    async def _hang_up_later(self) -> None:
        await trio.sleep(self.script.reply_delay_s)
        self.end("completed")

    async def _connect(self, verb: ET.Element) -> None:
        stream = verb.find("Stream")
        if stream is None:
            self.call.unsupported_verbs.append("Connect")
            self._on_change()
            return
        parameters = {p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")}
        self._stream_done = trio.Event()
        self.call.stream = StreamRequest(url=stream.get("url", ""), parameters=parameters)
        self._on_change()
        if not self.script.stream_audio:
            await self._stream_done.wait()
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._talk_over_stream, self.call.stream)
            await self._stream_done.wait()
            nursery.cancel_scope.cancel()

    async def _talk_over_stream(self, request: StreamRequest) -> None:
        """Be the caller on the media stream (see ``CalleeScript.stream_audio``)."""
        from voicecall_cli.simulator.caller import talk_on_stream
        from voicecall_cli.simulator.twilio.media import open_twilio_media_stream

        try:
            async with open_twilio_media_stream(request.url, call_sid=self.call.sid,
                                                token=request.token) as stream:
                self._media = stream
                await talk_on_stream(stream, self.script, given=self.call.replies,
                                     give_reply=self._give_reply,
                                     send_silence=stream.send_audio)
        except Exception as exc:  # the daemon closed or refused the stream
            self.call.errors.append(f"media stream: {exc!r}")
        finally:
            self._media = None
            self._stream_done.set()

    # -- plumbing -------------------------------------------------------------------------------

    def _error(self, message: str) -> None:
        self.call.errors.append(message)
        self._on_change()
