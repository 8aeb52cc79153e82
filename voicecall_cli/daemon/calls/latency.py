"""Latency you can see: the waterfall of each auto-reply turn on a media stream.

A turn is measured from the caller's end of speech (when the transcriber reports it; else from
the final transcript) to the reply's first audio handed to the stream (it leaves on the next
20 ms tick). Marks, in ms from that start: ``endOfSpeechMs`` (0, when known),
``transcriptMs`` (final transcript), ``firstTokenMs`` (the model's first text), ``replyMs``
(its first complete sentence), ``firstTtsByteMs`` (the first synthesised byte) and
``audioMs``; a realtime voice turn has ``requestMs`` (the model asked for a reply) and
``modelAudioMs`` (its first audio) instead. The finished turn is published as a
``call.latency`` event and kept on the call as ``metadata.lastReplyLatencyMs`` and
``metadata.lastReplyWaterfall``, which ``status`` shows. Owned by the call manager; pure
bookkeeping on its clock.
"""

from __future__ import annotations

from typing import Any, Protocol

from voicecall_cli.core.call import CallRecord
from voicecall_cli.protocol import events as ev

MAX_SPEECH_TO_TRANSCRIPT_MS = 10_000


class LatencyHost(Protocol):
    """What the measurements need of their owner (the call manager)."""

    calls: dict[str, CallRecord]

    def now_ms(self) -> int: ...
    def persist(self, call: CallRecord) -> None: ...
    def publish(self, call: CallRecord | None, kind: str, data: dict[str, Any]) -> None: ...


class TurnLatency:
    def __init__(self, manager: LatencyHost) -> None:
        self.manager = manager
        self._turns: dict[str, dict[str, int]] = {}  # call id -> marks (ms since the transcript)
        self._started: dict[str, int] = {}
        self._stopped: dict[str, int] = {}  # call id -> when the caller last stopped speaking

    def speech_stopped(self, call_id: str) -> None:
        """The transcriber heard the caller stop speaking."""
        self._stopped[call_id] = self.manager.now_ms()

    def transcript(self, call_id: str) -> None:
        """A final caller transcript was handed over: a new turn starts (measured from the
        caller's end of speech when that is known and recent)."""
        self.begin(call_id, "transcriptMs")

    def begin(self, call_id: str, mark: str) -> None:
        """A new turn starts at ``mark`` (now), measured from the caller's end of speech when
        that is known and recent (a realtime voice turn starts when the model is asked)."""
        now = self.manager.now_ms()
        stopped = self._stopped.pop(call_id, None)
        if stopped is not None and 0 <= now - stopped <= MAX_SPEECH_TO_TRANSCRIPT_MS:
            self._started[call_id] = stopped
            self._turns[call_id] = {"endOfSpeechMs": 0, mark: now - stopped}
        else:
            self._started[call_id] = now
            self._turns[call_id] = {mark: 0}

    def mark(self, call_id: str, name: str) -> None:
        turn = self._turns.get(call_id)
        if turn is not None and name not in turn:
            turn[name] = self.manager.now_ms() - self._started[call_id]

    def audio_started(self, call_id: str) -> None:
        """The turn's first audio reached the stream: the turn is measured."""
        turn = self._turns.pop(call_id, None)
        started = self._started.pop(call_id, None)
        call = self.manager.calls.get(call_id)
        if turn is None or started is None or call is None:
            return
        turn["audioMs"] = self.manager.now_ms() - started
        call.metadata["lastReplyLatencyMs"] = turn["audioMs"]
        call.metadata["lastReplyWaterfall"] = dict(turn)
        self.manager.persist(call)
        self.manager.publish(call, ev.CALL_LATENCY, dict(turn))
