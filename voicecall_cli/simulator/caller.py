"""The simulated caller's voice on an open media stream, shared by the carriers' call runners
(and the checks of their scripted callees, :func:`check_callee_script`).

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
from typing import Any, Protocol

import trio

from voicecall_cli.simulator.media import FRAME_S, CarrierMediaStream, Tone

SILENCE = b"\xff" * 160  # 20 ms of mu-law silence
REPLY_TONE_HZ = 300.0
ANSWERS = (True, "busy", "no-answer", "failed")  # how a scripted callee may answer a dial


def check_callee_script(answer: object, hangup_after_replies: int | None) -> None:
    """The checks every carrier's ``CalleeScript`` makes when it is built; raises
    ``ValueError`` naming the bad field."""
    if answer not in ANSWERS:
        raise ValueError("answer must be True, 'busy', 'no-answer' or 'failed'")
    if hangup_after_replies is not None and hangup_after_replies < 1:
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
