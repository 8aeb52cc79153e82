"""The carrier's end of a media stream for the conformance suite, on any simulator's stream
client (:class:`voicecall_cli.simulator.media.CarrierMediaStream`): the framing is the
simulator's, the behaviour the suite needs is here, once for every carrier."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import trio
import trio_websocket

from tests.conformance.harness import MediaCaller
from voicecall_cli.simulator.media import Tone

MULAW_SILENCE = b"\xff" * 160  # one 20 ms frame


@dataclass
class StreamCaller(MediaCaller):
    """Acknowledges a mark by echoing it in the carrier's framing, as a carrier does once the
    audio before it has played (frames arrive in real time, so at once), unless held. With
    ``paced_marks`` a mark is echoed when the audio received before it has played out (each
    frame plays 20 ms from its arrival or from the end of the one before, whichever is later),
    as a real carrier's playout buffer does."""

    stream: Any  # a CarrierMediaStream opened with echo_marks=False
    frame_bytes: int = 160
    hold_marks: bool = False
    paced_marks: bool = False
    playout_end: float = 0.0
    marks_received: list[str] = field(default_factory=list)
    marks_acknowledged: list[str] = field(default_factory=list)
    _held: list[str] = field(default_factory=list)
    _seen: int = 0

    @property
    def frames(self) -> list[tuple[float, bytes]]:  # type: ignore[override]
        return [(m.at, m.payload) for m in self.stream.media]

    @property
    def clears(self) -> list[float]:  # type: ignore[override]
        return self.stream.clears

    async def follow(self) -> None:
        """Read what the daemon sent: acknowledge (or hold) marks; a clear releases held marks,
        as carriers echo pending marks when their buffer is cleared."""
        async with trio.open_nursery() as paced:
            try:
                await self._follow(paced)
            except trio_websocket.ConnectionClosed:
                paced.cancel_scope.cancel()

    async def _follow(self, paced: trio.Nursery) -> None:
        while True:
            await self.stream.wait_for(lambda s: len(s.messages) > self._seen)
            while self._seen < len(self.stream.messages):
                at, _message = self.stream.messages[self._seen]
                kind, value = self.stream.kinds[self._seen]  # in the carrier's framing
                self._seen += 1
                if kind == "media":
                    self.playout_end = max(at, self.playout_end) + (
                        len(value) / self.frame_bytes * 0.020)
                elif kind == "mark":
                    self.marks_received.append(value)
                    if self.hold_marks:
                        self._held.append(value)
                    elif self.paced_marks:
                        paced.start_soon(self._ack_at, value, self.playout_end)
                    else:
                        await self._ack(value)
                elif kind == "clear":
                    self.playout_end = at
                    await self.release_marks(keep_holding=self.hold_marks)

    async def release_marks(self, keep_holding: bool = False) -> None:
        self.hold_marks = keep_holding
        held, self._held = self._held, []
        for name in held:
            await self._ack(name)

    async def talk(self, seconds: float) -> None:
        await self.stream.send_audio(Tone(300.0, seconds))
        await self.stream.send_audio(MULAW_SILENCE * 40)  # 0.8 s: carriers never stop sending

    async def _ack_at(self, name: str, due: float) -> None:
        await trio.sleep_until(due)
        with contextlib.suppress(trio_websocket.ConnectionClosed):
            await self._ack(name)

    async def _ack(self, name: str) -> None:
        self.marks_acknowledged.append(name)
        await self.stream.send_json(self.stream.mark_frame(name))
