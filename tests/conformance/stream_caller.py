"""The carrier's end of a media stream for the conformance suite, on any simulator's stream
client (:class:`voicecall_cli.simulator.media.CarrierMediaStream`): the framing is the
simulator's, the behaviour the suite needs is here, once for every carrier."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio_websocket

from tests.conformance.harness import MediaCaller
from voicecall_cli.simulator.media import Tone

MULAW_SILENCE = b"\xff" * 160  # one 20 ms frame


@dataclass
class StreamCaller(MediaCaller):
    """Acknowledges a mark by echoing it in the carrier's framing, as a carrier does once the
    audio before it has played (frames arrive in real time, so at once), unless held."""

    stream: Any  # a CarrierMediaStream opened with echo_marks=False
    frame_bytes: int = 160
    hold_marks: bool = False
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
        try:
            while True:
                await self.stream.wait_for(lambda s: len(s.messages) > self._seen)
                while self._seen < len(self.stream.messages):
                    kind, name = self.stream.kinds[self._seen]  # in the carrier's framing
                    self._seen += 1
                    if kind == "mark":
                        self.marks_received.append(name)
                        if self.hold_marks:
                            self._held.append(name)
                        else:
                            await self._ack(name)
                    elif kind == "clear":
                        await self.release_marks(keep_holding=self.hold_marks)
        except trio_websocket.ConnectionClosed:
            return

    async def release_marks(self, keep_holding: bool = False) -> None:
        self.hold_marks = keep_holding
        held, self._held = self._held, []
        for name in held:
            await self._ack(name)

    async def talk(self, seconds: float) -> None:
        await self.stream.send_audio(Tone(300.0, seconds))
        await self.stream.send_audio(MULAW_SILENCE * 40)  # 0.8 s: carriers never stop sending

    async def _ack(self, name: str) -> None:
        self.marks_acknowledged.append(name)
        await self.stream.send_json(self.stream.mark_frame(name))
