"""The Plivo XML interpreter of one simulated call: fetch a document, check it against Plivo's
rules (:func:`~voicecall_cli.simulator.plivo.xml.parse_document`), run its elements, and go on
to the next document a ``<Redirect>`` or a redirecting ``<GetInput>`` names.

What the elements do here:

* ``Speak`` records its text in ``call.spoken`` and takes ``len(text) *
  say_seconds_per_char`` per loop (``loop="0"`` speaks until interrupted); ``Play`` records
  its URL and takes ``play_seconds`` per loop; ``Wait`` takes ``length`` seconds (``beep``:
  until a machine's greeting ended, at most that long; with
  ``silence="true"``, ``minSilence``: the simulated line is silent).
* ``GetInput`` says its nested prompt, then listens. With ``speech`` in ``inputType`` the
  callee's next reply arrives ``reply_delay_s`` after the prompt (after the GetInput began,
  cutting the prompt short, with ``barge_in``); DTMF comes from the simulator's ``press``.
  Input requests ``action`` (``InputType``, ``Speech``, ``SpeechConfidenceScore``,
  ``Digits``, ``Event=GetInput``): with ``redirect="true"`` its answer replaces the document,
  with ``"false"`` the request is only a notification and the document goes on. No input
  within ``executionTimeout`` (counted after the prompt): no request, the next element runs.
* ``Stream`` starts a stream session (see :mod:`.streams`); ``keepCallAlive="true"`` holds the
  document until the stream is over.
* ``Redirect`` fetches its URL (``Event=Redirect``); ``Hangup`` ends the call (``schedule``:
  later, the document goes on; ``reason`` on an inbound call's first element: rejected
  unanswered); elements Plivo knows but the simulator does not run are recorded in
  ``call.unsupported_elements`` and skipped. A document that runs out of elements ends the
  call ("End Of XML Instructions").

All times the XML gives (``Wait``, ``executionTimeout``, ``schedule``, ``streamTimeout``) are
multiplied by the simulator's time factor, so tests stay fast.

Resource handling: holds nothing. :meth:`Program.run` runs in a task of the call runner's,
which cancels it when the call ends or a transfer replaces the document; a cancelled
``GetInput`` makes no request.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import trio

from voicecall_cli.simulator.plivo.call import CalleeScript, SimCall, StreamRequest
from voicecall_cli.simulator.plivo.streams import CallStreams
from voicecall_cli.simulator.plivo.xml import Element, PlivoXmlError, parse_document

EVENTS = {"answer": "StartApp", "action": "GetInput", "transfer": "Transfer",
          "redirect": "Redirect"}


@dataclass(frozen=True, slots=True)
class Fetch:
    """Next step: request ``url`` (``kind``: answer, action, transfer or redirect) with the
    call's parameters plus ``extra``, and run the document it returns."""

    kind: str
    url: str
    method: str = "POST"
    extra: dict[str, str] = field(default_factory=dict)


class _Done:
    """A ``Hangup`` ended the call."""


DONE = _Done()


class CallControl(Protocol):
    """What the interpreter needs from its call runner."""

    call: SimCall
    script: CalleeScript
    streams: CallStreams

    def time_factor(self) -> float: ...

    def params(self, event: str) -> dict[str, str]: ...

    async def fetch_document(self, step: Fetch) -> str | None:
        """The document at ``step`` (None: the fetch failed and the call was ended)."""
        ...

    def notify(self, kind: str, url: str, method: str, params: Mapping[str, str]) -> None: ...

    def end(self, status: str, cause: str, source: str) -> None: ...

    def reject(self, reason: str) -> None: ...

    def schedule_hangup(self, seconds: float) -> None: ...

    def give_reply(self, reply: str) -> None: ...

    def changed(self) -> None: ...

    async def wait_for_beep(self, seconds: float) -> None:
        """Until a machine's greeting ended in its beep (at once if it has), or ``seconds``."""
        ...


class Program:
    """Runs the call's XML; one per call, :meth:`run` again after each transfer."""

    def __init__(self, control: CallControl) -> None:
        self._c = control
        self.elements_run = 0  # across documents: a Hangup reason rejects only as the first
        self._listening_dtmf = False
        self._pressed = ""
        self._input = trio.Event()

    async def run(self, step: Fetch | None) -> None:
        """Fetch and run documents from ``step`` until the call ends."""
        call = self._c.call
        while step is not None:
            text = await self._c.fetch_document(step)
            if text is None:
                return
            call.documents.append(text)
            try:
                elements = parse_document(text)
            except PlivoXmlError as exc:
                call.xml_errors.extend(exc.errors)
                call.errors.append(f"invalid {step.kind} XML from {step.url}: {exc}")
                self._c.end("completed", f"{step.kind}_xml", "Error")
                return
            self._c.changed()
            step = await self._run_elements(elements)
            if call.ended:
                return
        self._c.end("completed", "end_of_xml", "Plivo")

    def press(self, digits: str) -> bool:
        """The caller pressed ``digits``; True when a listening GetInput takes them."""
        if not self._listening_dtmf:
            return False
        self._pressed += digits
        self._input.set()
        self._input = trio.Event()
        return True

    async def _run_elements(self, elements: list[Element]) -> Fetch | None:
        for element in elements:
            outcome = await self._run(element)
            if outcome is DONE or self._c.call.ended:
                return None
            if isinstance(outcome, Fetch):
                return outcome
        return None

    async def _run(self, element: Element) -> Fetch | _Done | None:
        c, call, s = self._c, self._c.call, element.settings
        first = self.elements_run == 0
        self.elements_run += 1
        tag = element.tag
        if tag == "Speak":
            await self._speak(element)
        elif tag == "Play":
            await self._play(element)
        elif tag == "Wait":
            seconds = s["min_silence_ms"] / 1000 if s["silence"] else s["length"]
            if s["beep"] and not s["silence"]:
                await c.wait_for_beep(seconds * c.time_factor())
            else:
                await trio.sleep(seconds * c.time_factor())
        elif tag == "GetInput":
            return await self._get_input(element)
        elif tag == "Stream":
            await self._stream(element)
        elif tag == "Redirect":
            call.redirects.append(s["url"])
            c.changed()
            return Fetch("redirect", s["url"], s["method"])
        elif tag == "Hangup":
            if s["schedule"] is not None:
                c.schedule_hangup(s["schedule"] * c.time_factor())
                return None
            if s["reason"] is not None and first and call.direction == "inbound":
                c.reject(s["reason"])
            else:
                c.end("completed", "normal", "Answer XML")
            return DONE
        else:
            call.unsupported_elements.append(tag)
            c.changed()
        return None

    async def _speak(self, element: Element) -> None:
        self._c.call.spoken.append(element.text)
        if self._c.call.greeting_playing:
            self._c.call.spoken_over_greeting.append(element.text)
        self._c.changed()
        loop = element.settings["loop"]
        if loop == 0:
            await trio.sleep_forever()
        await trio.sleep(len(element.text) * self._c.script.say_seconds_per_char * loop)

    async def _play(self, element: Element) -> None:
        self._c.call.played.append(element.settings["url"])
        self._c.changed()
        loop = element.settings["loop"]
        if loop == 0:
            await trio.sleep_forever()
        await trio.sleep(self._c.script.play_seconds * loop)

    async def _stream(self, element: Element) -> None:
        s = element.settings
        request = StreamRequest(
            url=s["url"], stream_id=str(uuid.uuid4()), bidirectional=s["bidirectional"],
            audio_track=s["audio_track"], stream_timeout_s=s["stream_timeout"],
            status_callback_url=s["status_callback_url"],
            status_callback_method=s["status_callback_method"], content_type=s["content_type"],
            extra_headers=s["extra_headers"], keep_call_alive=s["keep_call_alive"],
            noise_cancellation=s["noise_cancellation"],
            noise_cancellation_level=s["noise_cancellation_level"])
        session = self._c.streams.start(request)
        if request.keep_call_alive:
            await session.done.wait()

    # -- GetInput ---------------------------------------------------------------------------------

    async def _get_input(self, element: Element) -> Fetch | None:
        c, call, s = self._c, self._c.call, element.settings
        call.get_inputs.append(s["action"])
        c.changed()
        script = c.script
        reply = self._next_reply() if "speech" in s["input_types"] else None
        self._pressed, self._listening_dtmf = "", "dtmf" in s["input_types"]
        call.listening_keys = self._listening_dtmf
        c.changed()
        try:
            reply_at = None
            if reply is not None and script.barge_in:
                reply_at = trio.current_time() + script.reply_delay_s
                with trio.move_on_at(reply_at):
                    await self._prompt(element)
            else:
                await self._prompt(element)
                if reply is not None:
                    reply_at = trio.current_time() + script.reply_delay_s
            deadline = trio.current_time() + s["execution_timeout"] * c.time_factor()
            if reply_at is not None and reply_at > deadline:
                reply_at = None  # the callee is too slow: not heard, kept for the next one
            result = await self._listen(deadline, reply_at, s)
        finally:
            self._listening_dtmf = call.listening_keys = False
        if result is None:
            return None
        if result["InputType"] == "speech":
            assert reply is not None
            c.give_reply(reply)
        else:
            call.digits.append(result["Digits"])
            c.changed()
        if s["redirect"]:
            return Fetch("action", s["action"], s["method"], result)
        c.notify("action", s["action"], s["method"], {**c.params("GetInput"), **result})
        return None

    async def _prompt(self, element: Element) -> None:
        for child in element.children:
            await self._run(child)

    async def _listen(self, deadline: float, reply_at: float | None,
                      s: Mapping[str, object]) -> dict[str, str] | None:
        while True:
            if self._pressed:
                return {"InputType": "dtmf", "Digits": self._digits(s), "Speech": ""}
            now = trio.current_time()
            if reply_at is not None and now >= reply_at:
                reply = self._next_reply() or ""
                return {"InputType": "speech", "Speech": reply, "Digits": "",
                        "SpeechConfidenceScore": f"{self._c.script.confidence:g}"}
            if now >= deadline:
                return None
            with trio.move_on_at(deadline if reply_at is None else min(deadline, reply_at)):
                await self._input.wait()

    def _digits(self, s: Mapping[str, object]) -> str:
        digits, finish = self._pressed, str(s["finish_on_key"])
        if finish and finish in digits:
            digits = digits[:digits.index(finish)]
        return digits[:int(str(s["num_digits"]))]

    def _next_reply(self) -> str | None:
        given, replies = len(self._c.call.replies), self._c.script.replies
        return replies[given] if given < len(replies) else None
