"""Speech-to-text for one call: OpenAI Realtime transcription.

:class:`RealtimeTranscriber` is a :class:`~voicecall_cli.speech.realtime_socket.RealtimeSocket`
on ``wss://api.openai.com/v1/realtime?intent=transcription`` (headers ``Authorization: Bearer
<key>`` and ``OpenAI-Beta: realtime=v1``): it configures the session with
``transcription_session.update`` (G.711 mu-law input, server VAD) on every (re)connect, streams
the caller's audio in batched ``input_audio_buffer.append`` messages and turns server events
into callbacks: ``on_speech_started()``, ``on_speech_stopped()``, ``on_partial(text so far)``
and ``on_final(transcript)``.

Resource handling and errors are the socket's (see :mod:`.realtime_socket`): the caller runs
:meth:`RealtimeTranscriber.run` as a task in its own nursery (``await
nursery.start(transcriber.run)``); :meth:`RealtimeTranscriber.close` ends it. Server ``error``
events are logged and the session continues. Log lines never contain the API key, and
transcripts in them are cut to 200 characters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from voicecall_cli.protocol.text import without_lone_surrogates
from voicecall_cli.speech.realtime_socket import RealtimeSocket, loggable

log = logging.getLogger("voicecall.speech.stt")

DEFAULT_URL = "wss://api.openai.com/v1/realtime?intent=transcription"


class RealtimeTranscriber(RealtimeSocket):
    """One call's transcription session. Owns its websocket and a task in the nursery given
    to :meth:`run` (see the module docstring).

    ``send_audio`` never blocks: frames wait in a queue of ``audio_queue_frames`` entries that
    is drained only while the socket is connected; when the socket is slow or reconnecting the
    oldest frames are dropped and counted in :attr:`dropped_frames`.
    """

    label = "Realtime STT"

    def __init__(
        self, *, api_key: str, model: str = "gpt-4o-transcribe", vad_threshold: float = 0.5,
        silence_duration_ms: int = 800, url: str = DEFAULT_URL,
        on_partial: Callable[[str], None], on_final: Callable[[str], None],
        on_speech_started: Callable[[], None], connect_timeout_s: float = 10.0,
        max_reconnects: int = 5, backoff_s: float = 1.0, audio_queue_frames: int = 100,
        on_speech_stopped: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(api_key=api_key, url=url, headers=[(b"OpenAI-Beta", b"realtime=v1")],
                         connect_timeout_s=connect_timeout_s, max_reconnects=max_reconnects,
                         backoff_s=backoff_s, audio_queue_frames=audio_queue_frames)
        self._model = model
        self._vad_threshold = vad_threshold
        self._silence_duration_ms = silence_duration_ms
        self._on_partial = on_partial
        self._on_final = on_final
        self._on_speech_started = on_speech_started
        self._on_speech_stopped = on_speech_stopped
        self._partial = ""

    def session_update(self) -> dict[str, Any]:
        """The ``transcription_session.update`` event sent on every (re)connect."""
        return {"type": "transcription_session.update", "session": {
            "input_audio_format": "g711_ulaw",
            "input_audio_transcription": {"model": self._model},
            "turn_detection": {"type": "server_vad", "threshold": self._vad_threshold,
                               "prefix_padding_ms": 300,
                               "silence_duration_ms": self._silence_duration_ms},
        }}

    def connect_events(self, resumed: bool) -> list[dict[str, Any]]:
        self._partial = ""
        return [self.session_update()]

    def handle_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "conversation.item.input_audio_transcription.delta":
            delta = event.get("delta")
            if isinstance(delta, str) and delta:
                self._partial += without_lone_surrogates(delta)
                log.debug("Realtime STT partial: %s", loggable(self._partial))
                self._on_partial(self._partial)
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._partial = ""
            transcript = event.get("transcript")
            if isinstance(transcript, str) and transcript.strip():
                transcript = without_lone_surrogates(transcript)
                log.info("Realtime STT transcript: %s", loggable(transcript))
                self._on_final(transcript)
        elif kind == "input_audio_buffer.speech_started":
            self._partial = ""
            self._on_speech_started()
        elif kind == "input_audio_buffer.speech_stopped":
            if self._on_speech_stopped is not None:
                self._on_speech_stopped()  # the caller's end of speech (turn latency)
        elif kind == "error":
            error = event.get("error")
            detail = error.get("message", "") if isinstance(error, dict) else ""
            code = error.get("code") if isinstance(error, dict) else None
            log.warning("Realtime STT error event (%s): %s", loggable(str(code)),
                        loggable(str(detail), self._api_key))
