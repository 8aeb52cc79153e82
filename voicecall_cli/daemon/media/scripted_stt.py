"""Offline transcription for development and the demo (``streaming.sttProvider = "scripted"``).

The caller's mu-law audio is measured frame by frame (its energy read from a table of the
squared PCM value of every mu-law byte: no decoding, no floats): a burst of loud frames is speech
(``on_speech_started`` after 60 ms of it), and ``silence_ms`` of quiet after it ends the
utterance, which is "heard" as the next of the scripted transcripts (cycled). Same interface as
the OpenAI Realtime transcriber, so the rest of the daemon cannot tell them apart; no network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import trio

from voicecall_cli.providers.audio import FRAME_BYTES, mulaw_decode

SPEECH_RMS = 600  # PCM16 RMS above which a frame counts as speech (line noise is far lower)
START_MS = 60
# The square of the PCM16 value of each mu-law byte: a frame's energy is one lookup and a sum.
_SQUARES = np.frombuffer(mulaw_decode(bytes(range(256))), dtype="<i2").astype(np.int64) ** 2


class ScriptedTranscriber:
    """Owns no resource beyond the task running :meth:`run`, which ends on :meth:`close`."""

    def __init__(self, *, transcripts: Sequence[str], on_partial: Callable[[str], None],
                 on_final: Callable[[str], None], on_speech_started: Callable[[], None],
                 on_speech_stopped: Callable[[], None] | None = None,
                 silence_ms: int = 800) -> None:
        self._transcripts = list(transcripts) or ["..."]
        self._next = 0
        self._on_partial = on_partial
        self._on_final = on_final
        self._on_speech_started = on_speech_started
        self._on_speech_stopped = on_speech_stopped
        self._silence_ms = silence_ms
        self._loud_ms = 0.0
        self._quiet_ms = 0.0
        self._speaking = False
        self._closed = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        task_status.started()
        await self._closed.wait()

    def send_audio(self, mulaw: bytes) -> None:
        if not mulaw or self._closed.is_set():
            return
        for start in range(0, len(mulaw), FRAME_BYTES):
            self._frame(mulaw[start:start + FRAME_BYTES])

    def _frame(self, mulaw: bytes) -> None:
        frame_ms = len(mulaw) / 8.0
        energy = int(_SQUARES.take(np.frombuffer(mulaw, dtype=np.uint8)).sum())
        if energy >= SPEECH_RMS * SPEECH_RMS * len(mulaw):  # RMS >= SPEECH_RMS, in integers
            self._quiet_ms = 0.0
            self._loud_ms += frame_ms
            if not self._speaking and self._loud_ms >= START_MS:
                self._speaking = True
                self._on_speech_started()
            return
        self._loud_ms = 0.0
        if self._speaking:
            self._quiet_ms += frame_ms
            if self._quiet_ms >= self._silence_ms:
                self._speaking = False
                if self._on_speech_stopped is not None:
                    self._on_speech_stopped()
                text = self._transcripts[self._next % len(self._transcripts)]
                self._next += 1
                self._on_partial(text)
                self._on_final(text)

    async def close(self) -> None:
        self._closed.set()
