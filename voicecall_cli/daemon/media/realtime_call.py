"""One call spoken by a realtime speech-to-speech model: its session, bridged to its stream.

:class:`RealtimeCall` is the :class:`~voicecall_cli.speech.realtime_voice.VoiceListener` of
one :class:`~voicecall_cli.speech.realtime_voice.RealtimeVoice` session and the stream's audio
sink (``send_audio``: the caller's frames, batched by the session). It turns the model's
responses into the daemon's playback and the session's events into the call's:

* **Responses.** Every response the model gives is a
  :class:`~voicecall_cli.daemon.media.realtime_response.Response`, asked for one at a time
  (the next ``response.create`` goes out when the last one is done): ``say`` (text the
  model says verbatim: the greeting, ``speak``, ``continue``; whoever asked plays it and
  records the transcript) or ``reply`` (the model's own answer to the caller's turn, played
  here, its transcript recorded here). Audio deltas feed the stream's playback
  (:meth:`MediaStreams.play`) as they arrive, through the same pacing and marks as any speech;
  a :class:`~voicecall_cli.daemon.media.playback.PlayProgress` follows what the caller heard.
* **Turns.** The session's VAD commits the caller's turn; unless an agent's ``continue`` is
  waiting for it (the transcript answers that) or the outbound greeting is still playing
  (exactly one greeting), the model is asked to reply. Transcripts of both sides become the
  call's transcript; a reply's latency waterfall is measured from the caller's end of speech.
* **Barge-in.** The caller starts speaking: the playback is cleared, the model's response
  cancelled and its item truncated at what the caller heard, so the model's context holds
  only that.
* **Ending.** The ``end_call`` tool hangs up once the goodbye has played, its reason in
  ``tail``.
* **Failures.** A lost session reconnects (the socket's backoff), resumes with the transcript
  in its instructions and re-asks an unfinished reply; a failed reply is retried once. Every
  one is an event. When the session cannot be had, :meth:`RealtimeHost.session_failed` decides
  (fall back to the cascaded voice, or hang up).

Owned by :class:`~voicecall_cli.daemon.media.realtime.RealtimeVoices`, which runs :meth:`run`
in the call manager's nursery and calls :meth:`close` when the call ends.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from typing import Any, Protocol

import trio

from voicecall_cli.core.call import TranscriptEntry
from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.media.playback import PlaybackFailed
from voicecall_cli.daemon.media.realtime_response import Response, cut_to_heard
from voicecall_cli.daemon.media.streaming import greeting_still_playing, on_first_chunk
from voicecall_cli.protocol import events as ev
from voicecall_cli.speech.errors import SpeechError
from voicecall_cli.speech.realtime_voice import END_CALL_TOOL, RealtimeVoice

log = logging.getLogger("voicecall.realtime")

FIRST_AUDIO_TIMEOUT_S = 15.0  # a verbatim request with no audio by then fails
SETTLE_S = 2.0  # a played reply waits this long for the model's word that it is done
GOODBYE_WAIT_S = 15.0  # end_call hangs up after the goodbye, or after this long
REPLY_RETRY_S = 1.0


class RealtimeHost(Protocol):
    """What a realtime call needs of its owner."""

    manager: Any  # the CallManager
    media: Any  # the MediaStreams endpoint
    hooks: Any  # the StreamHooks (live transcripts, turn latency)

    def new_session(self, call: RealtimeCall) -> RealtimeVoice: ...
    def session_failed(self, call: RealtimeCall, reason: str) -> None: ...


class RealtimeCall:
    """See the module docstring. ``pid``: the carrier's call id (the stream's key)."""

    outlives_stream = True  # the stream's audio sink, closed when the call ends, not the stream

    def __init__(self, host: RealtimeHost, call_id: str, pid: str) -> None:
        self.host = host
        self.call_id = call_id
        self.pid = pid
        self.failed = False
        self._queue: deque[Response] = deque()  # asked for, not sent yet
        self._sent: deque[Response] = deque()  # response.create sent, not created yet
        self._active: Response | None = None  # the model is producing it
        self._playing: Response | None = None  # its audio is in the playback
        self._prepared: Response | None = None
        self._reply_failures = 0
        self._resume_reply = False
        self._ending = False
        self._changed = trio.Event()
        self._ids = itertools.count(1)
        self.session = host.new_session(self)

    # -- life cycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """The session's task: until :meth:`close`, or until it cannot be had."""
        try:
            await self.session.run()
        except SpeechError as exc:
            self._give_up(str(exc))
        except Exception as exc:  # a failure of ours: the call hears about it, not the daemon
            log.exception("realtime session of call %s failed", self.call_id)
            self._give_up(f"realtime session failed: {exc}")

    async def close(self) -> None:
        self._fail_all("Call ended")
        await self.session.close()

    def send_audio(self, mulaw: bytes) -> None:
        self.session.send_audio(mulaw)

    # -- what the daemon asks ---------------------------------------------------------------------

    def prepare(self, text: str) -> None:
        """Ask for the call's first words now (it rings), to play when its stream starts."""
        if text.strip() and self._prepared is None:
            self._prepared = self._ask("say", text.strip())

    async def say(self, text: str) -> None:
        """The model says ``text`` verbatim into the stream; returns once played or
        interrupted. Raises :class:`PlaybackFailed`."""
        response, self._prepared = self._prepared, None
        if response is None or response.text != text.strip():
            if response is not None:
                self._drop(response)
            response = self._ask("say", text.strip())
        with trio.move_on_after(FIRST_AUDIO_TIMEOUT_S):
            await response.ready.wait()
        if not response.ready.is_set():
            self._drop(response)
            raise PlaybackFailed(f"the realtime model sent no audio within "
                                 f"{FIRST_AUDIO_TIMEOUT_S:g}s")
        if response.error is not None:
            raise PlaybackFailed(response.error)
        if response.feed.bytes:
            await self._play(response)

    # -- the session's events ---------------------------------------------------------------------

    def opened(self, resumed: bool) -> None:
        self._publish("resumed" if resumed else "connected")
        if resumed and self._resume_reply:
            self._resume_reply = False
            self._ask("reply")

    def lost(self, reason: str) -> None:
        self._publish("reconnecting", reason=reason)
        active, self._active = self._active, None
        if active is not None:
            if active.feed.bytes or active.dropped:  # what arrived plays...
                # ...and an unfinished reply is asked again
                self._resume_reply = self._resume_reply or (
                    active.kind == "reply" and not active.dropped)
                active.finish()
            else:
                self._sent.appendleft(active)
        while self._sent:  # the new session never heard these
            response = self._sent.pop()
            if response.dropped:
                response.finish()
                continue
            response.response_id = ""
            self._queue.appendleft(response)
        self._send_next()

    def speech_started(self) -> None:
        """Barge-in (see the module docstring)."""
        call = self._call()
        if call is None or greeting_still_playing(call):
            return
        playing = self._playing
        heard = playing.progress.heard_ms(trio.current_time()) if playing is not None else 0
        self.host.media.clear(self.pid)
        for response in (*self._queue, *self._sent):
            self._drop(response)
        self._queue.clear()
        if self._active is not None:
            self._drop(self._active)
        if playing is not None and playing.item_id and heard < playing.audio_ms:
            self.session.truncate(playing.item_id, heard)
            self._publish("interrupted", playedMs=heard)
            playing.heard_ms = heard

    def speech_stopped(self) -> None:
        self.host.manager.latency.speech_stopped(self.call_id)

    def committed(self) -> None:
        """The caller's turn is in the conversation: the model answers it, unless an agent's
        turn is waiting for it or the outbound greeting still plays."""
        call = self._call()
        manager = self.host.manager
        if (call is None or self.failed or self._ending or self.call_id in manager.waiters
                or greeting_still_playing(call)):
            return
        manager.latency.begin(self.call_id, "requestMs")
        self._ask("reply")

    def caller_partial(self, text: str) -> None:
        self.host.hooks.caller_partial(self.pid, text)

    def caller_final(self, text: str) -> None:
        self.host.manager.latency.mark(self.call_id, "transcriptMs")
        self.host.hooks.caller_final(self.pid, text, barge_in=False)

    def response_created(self, response_id: str) -> None:
        response = self._sent.popleft() if self._sent else Response("reply")
        response.response_id = response_id
        self._active = response
        if response.dropped:
            self.session.cancel()

    def audio(self, response_id: str, item_id: str, mulaw: bytes) -> None:
        response = self._active
        if response is None or response.response_id != response_id or response.dropped:
            return
        first = not response.feed.bytes
        response.item_id = item_id
        response.feed.append(mulaw)
        if first:
            response.ready.set()
            if response.kind == "reply":
                self.host.manager.latency.mark(self.call_id, "modelAudioMs")
                self._playing = response  # from now: a barge-in cuts it, end_call waits for it
                self.host.manager.spawn(self._play_reply, response)

    def assistant_transcript(self, response_id: str, text: str) -> None:
        response = self._active
        if response is not None and response.response_id == response_id:
            response.transcript = text

    def response_done(self, response_id: str, status: str, error: str | None) -> None:
        response = self._active
        if response is None or response.response_id != response_id:
            return
        self._active = None
        response.finish(error)
        if error is not None:
            self._response_failed(response, error)
        elif response.kind == "reply":
            self._reply_failures = 0
        self._send_next()
        self._wake()

    def tool_call(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        call = self._call()
        if name != END_CALL_TOOL or call is None or self._ending:
            return
        self._ending = True
        reason = " ".join(str(arguments.get("reason") or "").split())[:200]
        self._publish("end_call", reason=reason)
        self.session.tool_output(call_id, {"ok": True})
        self.host.manager.spawn(self._hang_up_after_goodbye, call)

    def api_error(self, code: str, message: str, event_id: str | None) -> None:
        call = self._call()
        if call is not None:
            self.host.manager.publish(call, ev.CALL_ERROR,
                                      {"message": f"realtime voice: {message} ({code})"})
        for response in self._sent:  # the request the error names failed
            if event_id and response.event_id == event_id:
                self._sent.remove(response)
                response.finish(message)
                self._response_failed(response, message, published=True)
                self._send_next()
                break

    # -- inside -----------------------------------------------------------------------------------

    def _call(self) -> Any:
        call = self.host.manager.calls.get(self.call_id)
        return None if call is None or call.is_terminal else call

    def _publish(self, what: str, **data: Any) -> None:
        call = self._call()
        if call is not None:
            self.host.manager.publish(call, ev.CALL_REALTIME, {"event": what, **data})

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _ask(self, kind: str, text: str = "") -> Response:
        response = Response(kind, text)
        if self.failed:
            response.finish("the realtime session is gone")
            return response
        self._queue.append(response)
        self._send_next()
        return response

    def _send_next(self) -> None:
        """One response at a time: the next request goes out once the last one is done."""
        if self._active is not None or self._sent or not self._queue or self.failed:
            return
        response = self._queue.popleft()
        response.event_id = f"vc_{self.call_id[:8]}_{next(self._ids)}"
        self._sent.append(response)
        if response.kind == "say":
            self.session.say_verbatim(response.text, response.event_id)
        else:
            self.session.respond(event_id=response.event_id)

    def _drop(self, response: Response) -> None:
        """Nothing more of ``response`` is played: the model stops producing it (an active
        one is cancelled; one sent is cancelled once created) and it ends with its
        ``response.done``; a queued one is never sent."""
        if response is self._active and not response.dropped:
            self.session.cancel()
        response.dropped = True
        response.feed.end()
        response.ready.set()
        if response in self._queue:
            self._queue.remove(response)
            response.over.set()

    def _response_failed(self, response: Response, error: str,
                         published: bool = False) -> None:
        if not published and (call := self._call()) is not None:
            self.host.manager.publish(call, ev.CALL_ERROR,
                                      {"message": f"realtime voice: the model's reply failed: "
                                                  f"{error}"})
        if response.kind != "reply" or response.dropped:
            return
        self._reply_failures += 1
        if self._reply_failures >= 2:
            self._give_up(f"the model's replies failed twice: {error}")
        else:
            self.host.manager.spawn(self._retry_reply)

    async def _retry_reply(self) -> None:
        await trio.sleep(REPLY_RETRY_S)
        if self._call() is not None and not self.failed:
            self._ask("reply")

    async def _play(self, response: Response, measured: bool = False) -> str:
        self._playing = response
        source: Any = response.feed.source()
        if measured:  # the turn's first audio handed to the stream ends its waterfall
            source = on_first_chunk(source, lambda: self.host.hooks.audio_started(self.pid))
        try:
            return await self.host.media.play(self.pid, source, response.progress)
        finally:
            if self._playing is response:
                self._playing = None
            self._wake()

    async def _play_reply(self, response: Response) -> None:
        manager = self.host.manager
        call = self._call()
        if call is None:
            if self._playing is response:
                self._playing = None
            return
        manager.move(call, CallState.SPEAKING)
        try:
            await self._play(response, measured=True)
        except PlaybackFailed as exc:
            if self._call() is not None:
                manager.publish(call, ev.CALL_ERROR, {"message": f"realtime reply not played: "
                                                                 f"{exc}"})
        with trio.move_on_after(SETTLE_S):  # its transcript comes with the model's done
            await response.over.wait()
        if self._call() is None:
            return
        text = response.transcript.strip()
        if response.heard_ms is not None:
            text = cut_to_heard(text, response.heard_ms, response.audio_ms)
        if text:
            manager.add_transcript(call, TranscriptEntry(manager.now_ms(), "bot", text))
        if call.state is CallState.SPEAKING and self._playing is None:
            manager.move(call, CallState.LISTENING)

    async def _hang_up_after_goodbye(self, call: Any) -> None:
        with trio.move_on_after(GOODBYE_WAIT_S):
            while self._active is not None or self._playing is not None or self._queue:
                await self._changed.wait()
        if call.is_terminal:
            return
        try:
            await self.host.manager.hang_up(call, CallState.HANGUP_BOT.value)
        except Exception as exc:
            log.warning("hang-up asked by the realtime model failed for call %s: %s",
                        self.call_id, exc)

    def _fail_all(self, reason: str) -> None:
        for response in (*self._queue, *self._sent):
            response.finish(reason)
        if self._active is not None:
            self._active.finish(reason)
        if self._prepared is not None:
            self._prepared.finish(reason)
        self._queue.clear()
        self._sent.clear()
        self._active = None

    def _give_up(self, reason: str) -> None:
        if self.failed:
            return
        self.failed = True
        self._fail_all(f"realtime voice unavailable: {reason}")
        self.host.session_failed(self, reason)
