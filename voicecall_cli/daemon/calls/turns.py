"""The one pending ``continue`` turn of a call: a waiter for the caller's answer (their final
transcript, or the keys they pressed when the turn accepts dtmf).

Owned by the call manager, one per call at most. The waiter is settled exactly once, by a
transcript (``resolve``) or a failure (``fail``: the call ended, a provider error); whoever
awaits :meth:`TurnWaiter.wait` gets the transcript or a :class:`TurnFailed`. Settling twice is
a no-op, so a late event never raises.
"""

from __future__ import annotations

import trio

from voicecall_cli.core.processing import Waiter


class TurnFailed(Exception):
    """The turn ended without a transcript (the message says why)."""


class TurnWaiter:
    """``accept``: ``speech``, ``dtmf`` or ``both``. ``input`` says what answered (``speech``
    or ``dtmf``) once resolved; ``keys`` holds the keys pressed so far in this turn (see
    :mod:`.dtmf`)."""

    def __init__(self, turn_token: str | None, accept: str = "speech") -> None:
        self.turn_token = turn_token
        self.accept = accept
        self.input = "speech"
        self.keys = ""
        self._done = trio.Event()
        self._transcript: str | None = None
        self._error: str | None = None

    @property
    def pure(self) -> Waiter:
        return Waiter(self.turn_token, self.accept)

    @property
    def settled(self) -> bool:
        return self._done.is_set()

    def resolve(self, transcript: str, input: str = "speech") -> None:
        if not self._done.is_set():
            self._transcript = transcript
            self.input = input
            self._done.set()

    def fail(self, message: str) -> None:
        if not self._done.is_set():
            self._error = message
            self._done.set()

    async def wait(self) -> str:
        await self._done.wait()
        if self._error is not None:
            raise TurnFailed(self._error)
        return self._transcript or ""
