"""The simulated caller's voice on an open media stream, shared by the carriers' call runners
(and what every carrier's scripted callee has in common, :class:`ScriptedCallee`).

:func:`talk_on_stream` sends silence at real-time pace (one 20 ms frame every 20 ms, on an
absolute schedule) and answers each bot utterance but the first (the greeting) with a burst
of speech: an utterance is over when the app's mark after it comes back, and
``reply_delay_s`` later the caller sends a tone of ``reply_seconds`` and the runner records
the script's next reply. Once the replies run out the caller stays silent.

How a carrier frames audio is its stream's (a
:class:`~voicecall_cli.simulator.media.CarrierMediaStream` subclass); how it sends one frame of
silence is the runner's ``send_silence``.

Resource handling: holds nothing; the stream (and its socket) belong to whoever opened it.
``trio_websocket.ConnectionClosed`` from a send propagates to the runner, which decides what a
closed stream means.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import trio

from voicecall_cli.simulator.media import FRAME_S, CarrierMediaStream, Tone

SILENCE = b"\xff" * 160  # 20 ms of mu-law silence
REPLY_TONE_HZ = 300.0
DEFAULT_REPLIES = ("Hello, this is the simulated callee.", "Yes, that works for me.",
                   "Thank you, goodbye.")

Answer = bool | Literal["busy", "no-answer", "failed"]


@dataclass(slots=True)
class ScriptedCallee:
    """What the simulated person on the other end does on every carrier; each carrier's
    ``CalleeScript`` subclasses it, adds its own fields and says what they mean there. Times
    are seconds (real clock).

    ``answer``: ``True`` picks up ``ring_delay_s + answer_delay_s`` after the dial; ``"busy"``,
    ``"no-answer"`` or ``"failed"`` end the call that way at that moment instead. ``replies``:
    said in turn, ``reply_delay_s`` after the prompt they answer (``confidence`` is the
    recognition score the carrier reports); after ``hangup_after_replies`` of them the callee
    hangs up. ``say_seconds_per_char``: how long the carrier's own text-to-speech takes per
    character. ``stream_audio``: on a media stream, be the caller (silence at real-time pace,
    a tone of ``reply_seconds`` for each bot utterance but the greeting; see
    :func:`talk_on_stream`). ``answered_by``: who picks up as the carrier's answering-machine
    detection reports it (when the dial asked for it): ``"human"``, or ``"machine"``, whose
    greeting plays for ``greeting_s`` after the answer before its beep (what the carrier says
    while it plays is recorded as spoken over the greeting). Raises ``ValueError`` for an
    ``answer``, ``answered_by`` or ``hangup_after_replies`` that cannot be.
    """

    replies: list[str] = field(default_factory=lambda: list(DEFAULT_REPLIES))
    reply_delay_s: float = 0.05
    answer: Answer = True
    ring_delay_s: float = 0.02
    answer_delay_s: float = 0.05
    say_seconds_per_char: float = 0.0005
    hangup_after_replies: int | None = None
    confidence: float = 0.92
    stream_audio: bool = False
    reply_seconds: float = 1.2
    answered_by: Literal["human", "machine"] = "human"
    greeting_s: float = 0.3

    def __post_init__(self) -> None:
        if self.answer not in (True, "busy", "no-answer", "failed"):
            raise ValueError("answer must be True, 'busy', 'no-answer' or 'failed'")
        if self.answered_by not in ("human", "machine"):
            raise ValueError("answered_by must be 'human' or 'machine'")
        if self.hangup_after_replies is not None and self.hangup_after_replies < 1:
            raise ValueError("hangup_after_replies must be at least 1 (or None)")


class CallerScript(Protocol):
    """The part of a carrier's ``CalleeScript`` the caller's voice reads."""

    @property
    def replies(self) -> Sequence[str]: ...

    @property
    def reply_delay_s(self) -> float: ...

    @property
    def reply_seconds(self) -> float: ...


async def talk_on_stream(stream: CarrierMediaStream, script: CallerScript, *,
                         given: Sequence[str], give_reply: Callable[[str], None],
                         send_silence: Callable[[bytes], Awaitable[Any]]) -> None:
    """Talk on ``stream`` until it closes (or the runner cancels this).

    ``given`` is the call's live list of replies already given; ``give_reply(reply)`` records
    the next one (it must append it to ``given``); ``send_silence(SILENCE)`` sends one frame.
    """
    marks_seen, reply_due = 0, None
    start, n = trio.current_time(), 0
    while not stream.closed.is_set():
        if len(stream.marks_echoed) > marks_seen:
            marks_seen = len(stream.marks_echoed)
            if marks_seen > 1 and len(given) < len(script.replies):
                reply_due = trio.current_time() + script.reply_delay_s
        if reply_due is not None and trio.current_time() >= reply_due:
            reply_due = None
            await stream.send_audio(Tone(REPLY_TONE_HZ, script.reply_seconds))
            give_reply(script.replies[len(given)])
            start, n = trio.current_time(), 0
            continue
        await send_silence(SILENCE)
        n += 1
        await trio.sleep_until(start + n * FRAME_S)
