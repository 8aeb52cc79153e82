"""Media streams, wired to the call manager.

:class:`StreamHooks` is what :class:`~voicecall_cli.daemon.media.endpoint.MediaStreams` calls back;
the media side is opened before the manager exists, so the hooks are bound to it later
(:meth:`StreamHooks.bind`). :class:`StreamSpeaker` is the speech router's stream player. Until
speech synthesis is configured, text spoken into a stream is rendered by :func:`offline_voice`: a
soft tone as long as the words would take, so a call on the simulator carries real, paced audio with
no API keys."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Protocol

import trio

from voicecall_cli.core.call import CallRecord
from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.calls.greeting import start_greeting
from voicecall_cli.protocol import events as ev
from voicecall_cli.providers.audio import TELEPHONY_RATE, AudioSource, pcm_source, tone_source

if TYPE_CHECKING:
    from voicecall_cli.daemon.calls.manager import CallManager

log = logging.getLogger("voicecall.streams")

WORDS_PER_SECOND = 2.5


async def synthesized_voice(synthesizer: Any, text: str,
                            on_first_byte: Callable[[], None] | None = None) -> AudioSource:
    """``text`` through the configured TTS, as mu-law 8 kHz as it arrives: ElevenLabs' mu-law
    passes straight through, PCM is resampled chunk by chunk (audio flows before synthesis
    ends). The HTTP response is closed when this source is exhausted or closed."""
    audio = await synthesizer.synthesize(text)
    async with aclosing(on_first_chunk(audio.chunks, on_first_byte)) as chunks:
        if audio.encoding == "mulaw" and audio.rate == TELEPHONY_RATE:
            async for chunk in chunks:
                yield chunk
        else:
            async for chunk in pcm_source(chunks, audio.rate):
                yield chunk


async def on_first_chunk(chunks: Any, callback: Callable[[], None] | None) -> Any:
    """``chunks`` unchanged, calling ``callback`` when the first non-empty one passes (turn
    latency marks); closes ``chunks`` when closed itself."""
    async with aclosing(chunks):
        async for chunk in chunks:
            if chunk and callback is not None:
                callback()
                callback = None
            yield chunk


def offline_voice(text: str, on_first_byte: Callable[[], None] | None = None) -> AudioSource:
    """A 440 Hz tone lasting about as long as ``text`` takes to say (0.4 s to 15 s)."""
    seconds = min(15.0, max(0.4, len(text.split()) / WORDS_PER_SECOND))
    return tone_source(440.0, seconds, amplitude=3000)


class Transcriber(Protocol):
    """One stream's transcription session (OpenAI Realtime, or scripted offline)."""

    async def run(self, *, task_status: Any = ...) -> None: ...
    def send_audio(self, mulaw: bytes) -> None: ...
    async def close(self) -> None: ...


# (on_partial, on_final, on_speech_started, on_speech_stopped) -> a transcriber
TranscriberFactory = Callable[[Callable[[str], None], Callable[[str], None],
                               Callable[[], None], Callable[[], None]], Transcriber]
# (text, on_first_byte) -> audio: how text becomes call audio
Voice = Callable[[str, Callable[[], None] | None], AudioSource]


def greeting_still_playing(call: CallRecord) -> bool:
    """Reference 5.4: while an outbound conversation greeting plays, caller speech (most
    likely the greeting's own echo) neither barges in nor counts as an answer."""
    return (call.direction == "outbound" and call.state is CallState.SPEAKING
            and call.mode == "conversation"
            and bool(str(call.metadata.get("initialMessage") or "").strip()))


class PreparedSpeech:
    """Audio synthesised ahead of time (while the call rings), buffered until it is played.

    Its task runs in the call manager's nursery; :meth:`discard` cancels it. :meth:`source`
    replays what is buffered and then follows the synthesis as it continues."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.chunks: list[bytes] = []
        self.error: BaseException | None = None
        self.done = False
        self._changed = trio.Event()
        self._scope = trio.CancelScope()

    async def fill(self, source: AudioSource) -> None:
        with self._scope:
            try:
                async with aclosing(source) as chunks:
                    async for chunk in chunks:
                        self.chunks.append(chunk)
                        self._wake()
            except Exception as exc:  # played as the source's failure
                self.error = exc
        self.done = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def discard(self) -> None:
        self._scope.cancel()

    async def source(self) -> AudioSource:
        sent = 0
        while True:
            while sent < len(self.chunks):
                yield self.chunks[sent]
                sent += 1
            if self.error is not None:
                raise self.error
            if self.done:
                return
            await self._changed.wait()


class StreamSpeaker:
    """The speech router's ``StreamPlayer``: text becomes audio through ``voice`` and plays
    into the call's stream; the moment its first audio reaches the stream is reported to
    ``hooks`` (turn latency). :meth:`prepare` synthesises a call's first words while it rings,
    so the greeting plays the moment the stream starts."""

    MAX_PREPARED = 64

    def __init__(self, media: Any, voice: Voice, hooks: StreamHooks) -> None:
        self._media = media
        self._voice = voice
        self._hooks = hooks
        self._prepared: dict[str, PreparedSpeech] = {}

    def prepare(self, call_sid: str, text: str) -> None:
        manager = self._hooks.manager
        if manager is None or not text or call_sid in self._prepared:
            return
        prepared = self._prepared[call_sid] = PreparedSpeech(text)
        if len(self._prepared) > self.MAX_PREPARED:  # calls that never streamed
            self._prepared.pop(next(iter(self._prepared))).discard()
        manager.spawn(prepared.fill, self._voice(text, None))

    def discard(self, call_sid: str) -> None:
        prepared = self._prepared.pop(call_sid, None)
        if prepared is not None:
            prepared.discard()

    async def play_text(self, call_sid: str, text: str) -> None:
        """Returns once played or interrupted by barge-in; raises PlaybackFailed."""
        prepared = self._prepared.pop(call_sid, None)
        if prepared is not None and prepared.text == text:
            source = prepared.source()
        else:
            if prepared is not None:
                prepared.discard()
            source = self._voice(text, lambda: self._hooks.tts_first_byte(call_sid))
        await self._media.play(call_sid, on_first_chunk(
            source, lambda: self._hooks.audio_started(call_sid)))


class StreamHooks:
    """Media-stream events for the call manager (bound after the manager is created).

    Each started stream gets a transcriber (when one is configured) whose task lives in the
    call manager's nursery and is closed when the stream stops. A call a realtime model
    speaks (``realtime``, when on) sends its stream's audio to its realtime session instead,
    which lives as long as the call."""

    def __init__(self, transcriber_factory: TranscriberFactory | None = None) -> None:
        self.manager: CallManager | None = None
        self.media: Any = None  # MediaStreams, for barge-in
        self.realtime: Any = None  # RealtimeVoices, when realtime voice is on
        self._factory = transcriber_factory
        self._transcribers: dict[str, Transcriber] = {}

    def bind(self, manager: CallManager, media: Any) -> None:
        self.manager = manager
        self.media = media

    def use_transcriber_factory(self, factory: TranscriberFactory | None) -> None:
        """Streams that start from now on are transcribed by ``factory`` (``daemon reload``);
        a started stream keeps its transcriber."""
        self._factory = factory

    def on_audio(self, call_sid: str, mulaw: bytes) -> None:
        transcriber = self._transcribers.get(call_sid)
        if transcriber is not None:
            transcriber.send_audio(mulaw)

    @property
    def can_transcribe(self) -> bool:
        """A cascaded transcriber is configured (``streaming``)."""
        return self._factory is not None

    def restart_transcriber(self, call_sid: str) -> None:
        """The call's realtime session is gone: its live stream gets a cascaded transcriber."""
        self._transcribers.pop(call_sid, None)
        if self.media is not None and self.media.has_stream(call_sid):
            self._start_transcriber(call_sid)

    def _start_transcriber(self, call_sid: str) -> None:
        if self.manager is None or call_sid in self._transcribers:
            return
        if self.realtime is not None:
            session = self.realtime.open(call_sid)
            if session is not None:
                self._transcribers[call_sid] = session
                return
        if self._factory is None:
            return
        transcriber = self._factory(
            lambda text: self.caller_partial(call_sid, text),
            lambda text: self.caller_final(call_sid, text),
            lambda: self._on_speech_started(call_sid),
            lambda: self._on_speech_stopped(call_sid))
        self._transcribers[call_sid] = transcriber

        async def run() -> None:
            try:
                await transcriber.run()
            except Exception as exc:  # the call goes on without transcripts
                log.warning("transcription failed for a stream (TTS still works): %s", exc)

        self.manager.spawn(run)

    def _stop_transcriber(self, call_sid: str) -> None:
        transcriber = self._transcribers.pop(call_sid, None)
        if getattr(transcriber, "outlives_stream", False):
            return  # a realtime session: closed when its call ends
        if transcriber is not None and self.manager is not None:
            self.manager.spawn(transcriber.close)

    def _on_speech_started(self, call_sid: str) -> None:
        call = self._call(call_sid)
        if call is None or greeting_still_playing(call):
            return
        if self.media is not None:
            self.media.clear(call_sid)  # barge-in: stop talking, settle the queue
        if self.manager is not None and self.manager.auto_responder is not None:
            self.manager.auto_responder.caller_spoke(call.call_id)

    def _on_speech_stopped(self, call_sid: str) -> None:
        call = self._call(call_sid)
        if call is not None and self.manager is not None:
            self.manager.latency.speech_stopped(call.call_id)

    def tts_first_byte(self, call_sid: str) -> None:
        call = self._call(call_sid)
        if call is not None and self.manager is not None:
            self.manager.latency.mark(call.call_id, "firstTtsByteMs")

    def caller_partial(self, call_sid: str, text: str) -> None:
        """Shown live (``tail``), never stored on the call; newer speech makes replies stale."""
        call = self._call(call_sid)
        manager = self.manager
        if call is None or manager is None or greeting_still_playing(call):
            return
        manager.publish(call, ev.CALL_TRANSCRIPT, {"speaker": "user", "text": text,
                                                   "isFinal": False})
        if manager.auto_responder is not None:
            manager.auto_responder.caller_spoke(call.call_id)

    def caller_final(self, call_sid: str, text: str, barge_in: bool = True) -> None:
        """The caller's final utterance, handed to the call manager (a pending ``continue``
        turn, the transcript, the auto-responder). ``barge_in``: it also stops what plays (a
        realtime call's transcript comes while the model already answers it: not there)."""
        call = self._call(call_sid)
        manager = self.manager
        if call is None or manager is None or greeting_still_playing(call):
            return
        if barge_in and self.media is not None:
            self.media.clear(call_sid)
        now = manager.now_ms()
        manager.handle_events([NormalizedEvent(
            type=EventType.SPEECH, id=f"stream-transcript-{call_sid}-{now}-{trio.current_time()}",
            call_id=call.call_id, timestamp=now, provider_call_id=call_sid, transcript=text,
            is_final=True)])

    def _call(self, call_sid: str) -> Any:
        return self.manager.find(call_sid) if self.manager is not None else None

    def on_start(self, call_sid: str, stream_sid: str) -> None:
        """The stream is up: now the greeting can play (reference 2.6, trigger b)."""
        call = self._call(call_sid)
        if call is not None and self.manager is not None:
            log.info("media stream %s started for call %s", stream_sid, call.call_id)
            self.manager.publish(call, ev.CALL_STREAM, {"event": "started",
                                                        "streamSid": stream_sid})
            self._start_transcriber(call_sid)
            start_greeting(self.manager, call.call_id)
        if self.manager is not None:
            self.manager.on_streams_changed()  # a slot promised to a held caller is taken

    def on_stop(self, call_sid: str, stream_sid: str) -> None:
        """The stream is over: its ``call.stream`` ``stopped`` event is stored even when the
        carrier's hang-up webhook ended the call (and the manager forgot it) first, so every
        started stream has its stop."""
        log.info("media stream %s stopped", stream_sid)
        self._stop_transcriber(call_sid)
        manager = self.manager
        if manager is None:
            return
        data = {"event": "stopped", "streamSid": stream_sid}
        call = self._call(call_sid)
        if call is not None:
            manager.publish(call, ev.CALL_STREAM, data)
        elif (stored := manager.store.find_call_by_provider_id(call_sid)) is not None:
            manager.bus.publish(str(stored["callId"]), ev.CALL_STREAM, data)
        manager.on_streams_changed()  # a slot may be free for a held caller

    def on_disconnect_timeout(self, call_sid: str) -> None:
        """The stream stayed away past the grace period: end the call (reference 5.2)."""
        call = self._call(call_sid)
        manager = self.manager
        if call is None or manager is None or call.is_terminal:
            return

        async def end() -> None:
            pause_s = manager.keys.stream_pause_s(call.call_id)
            if pause_s > 0:  # keys we sent play outside the stream (Twilio), which comes back
                await trio.sleep(pause_s)
                streams = manager.speech.streams
                if call.is_terminal or (streams is not None and streams.has_stream(call_sid)):
                    return
            log.info("Auto-ending call %s after stream disconnect grace", call.call_id)
            try:
                await manager.hang_up(call, CallState.HANGUP_BOT.value)
            except Exception as exc:
                log.warning("hang-up after stream loss failed for call %s: %s",
                            call.call_id, exc)

        manager.spawn(end)

    def on_dtmf(self, call_sid: str, digits: str) -> None:
        """A key the caller pressed, as a media-stream frame (see ``calls.keys``)."""
        call = self._call(call_sid)
        manager = self.manager
        if call is None or manager is None:
            return
        now = manager.now_ms()
        manager.handle_events([NormalizedEvent(
            type=EventType.DTMF, id=f"stream-dtmf-{uuid.uuid4().hex}",
            call_id=call.call_id, timestamp=now, provider_call_id=call_sid, digits=digits)])

    def audio_started(self, call_sid: str) -> None:
        call = self._call(call_sid)
        if call is not None and self.manager is not None:
            self.manager.latency.audio_started(call.call_id)

    def is_live_call(self, call_sid: str) -> bool:
        call = self._call(call_sid)
        return call is not None and not call.is_terminal

    def is_inbound(self, call_sid: str) -> bool:
        call = self._call(call_sid)
        return call is not None and call.direction == "inbound"
