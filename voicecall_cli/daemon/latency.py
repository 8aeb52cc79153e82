"""Latency you can see: the waterfall of each auto-reply turn on a media stream.

A turn starts when a final caller transcript is handed to the auto-responder and ends when the
reply's first audio is handed to the stream (it leaves on the next 20 ms tick). In between,
``replyMs`` marks the model's first complete sentence. The finished turn is published as a
``call.latency`` event and kept on the call as ``metadata.lastReplyLatencyMs`` (with the
waterfall in ``metadata.lastReplyWaterfall``), which ``status`` shows. Owned by the call
manager; pure bookkeeping on its clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicecall_cli.protocol import events as ev

if TYPE_CHECKING:
    from voicecall_cli.daemon.calls import CallManager


class TurnLatency:
    def __init__(self, manager: CallManager) -> None:
        self.manager = manager
        self._turns: dict[str, dict[str, int]] = {}  # call id -> marks (ms since the transcript)
        self._started: dict[str, int] = {}

    def transcript(self, call_id: str) -> None:
        """A final caller transcript was handed over: a new turn starts now."""
        self._started[call_id] = self.manager.now_ms()
        self._turns[call_id] = {"transcriptMs": 0}

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
