"""The contract between the conformance suite and a carrier: :class:`CarrierHarness`.

See :mod:`tests.conformance.carriers` for the carriers themselves and for how the suite drives
a harness.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from tests.e2e.conftest import Daemon


@dataclass(frozen=True)
class CalleePlan:
    """What the suite needs the carrier's simulated people to do."""

    our_number: str  # the daemon's fromNumber: inbound callers dial it
    replies: tuple[str, ...]  # the callee's answers to ``continue``, in order


@dataclass(frozen=True)
class Delivery:
    """One webhook exactly as it goes on the wire to the daemon (``url`` is the daemon's)."""

    url: str
    body: bytes
    headers: dict[str, str]
    response: bytes | None = None  # what the daemon answered the first time, when known


class CarrierHarness:
    """What the suite needs from a carrier. Subclasses set the facts and implement every method
    (a method behind a False capability may raise ``NotImplementedError``)."""

    name: ClassVar[str]  # the config's ``provider`` and the pytest id
    signs_webhooks: ClassVar[bool] = True
    media: ClassVar[bool] = False  # bidirectional media streams
    ends_calls_offline: ClassVar[bool] = True  # can end a call while the daemon is down
    why_not: ClassVar[Mapping[str, str]] = {}
    known_bugs: ClassVar[Mapping[str, str]] = {}
    # Daemon hang-ups end a call with one of these (a carrier that ends notify calls itself,
    # like Twilio's <Hangup/>, reports "completed").
    normal_end_reasons: ClassVar[frozenset[str]] = frozenset({"completed", "hangup-bot"})

    # -- life cycle ---------------------------------------------------------------------------

    def running(self, plan: CalleePlan) -> Any:
        """Async context manager: the simulator runs inside it."""
        raise NotImplementedError

    def config(self, plan: CalleePlan) -> dict[str, Any]:
        raise NotImplementedError

    async def attach(self, daemon: Daemon) -> None:
        raise NotImplementedError

    # -- the carrier acts ---------------------------------------------------------------------

    async def place_inbound(self, from_: str) -> str:
        """Someone calls ``plan.our_number`` from ``from_``; returns the provider call id at once
        (the call goes on as the carrier would run it)."""
        raise NotImplementedError

    async def end_on_carrier(self, provider_call_id: str) -> None:
        """The call ends on the carrier's side while the daemon is down (no webhook reaches
        the daemon); a later status query reports it ended."""
        raise NotImplementedError

    # -- what the carrier saw -----------------------------------------------------------------

    def hangups(self, provider_call_id: str) -> int:
        """How many times the daemon asked the carrier to hang this call up."""
        raise NotImplementedError

    def heard(self, provider_call_id: str) -> list[str] | None:
        """Texts the carrier spoke into the call, in order; None when not observable."""
        raise NotImplementedError

    def status_queries(self, provider_call_id: str) -> int | None:
        """How often the daemon asked the carrier for this call's status; None when the
        carrier's answer is computed where the suite cannot see it."""
        raise NotImplementedError

    def dials(self) -> int:
        """Outbound calls the carrier was asked to place."""
        raise NotImplementedError

    def recordings(self, provider_call_id: str) -> list[tuple[str, int]]:
        """(URL, duration in seconds) of each recording the carrier made of this call (the
        duration is final once the call ended)."""
        raise NotImplementedError

    def activity(self) -> int:
        """A count that grows whenever the daemon makes the carrier do anything."""
        raise NotImplementedError

    def keys_sent(self, provider_call_id: str) -> list[str] | None:
        """Touch tones the daemon had the carrier play, in the carrier's own notation, in
        order; None when not observable."""
        raise NotImplementedError

    async def press(self, provider_call_id: str, digits: str) -> None:
        """The person on the call presses ``digits``, as the carrier reports keys (for a
        carrier that collects keys per listening turn, once that turn listens)."""
        raise NotImplementedError

    # -- webhooks -----------------------------------------------------------------------------

    def delivery_with(self, provider_call_id: str, text: str) -> Delivery:
        """The (validly signed) webhook the carrier sent for this call that carried ``text``
        (a callee reply), ready to be re-sent byte for byte."""
        raise NotImplementedError

    def forgeries(self, genuine: Delivery, from_: str) -> dict[str, Delivery]:
        """Webhooks that must be refused with 401, by label: ``genuine`` re-signed wrongly,
        tampered with, unsigned, and a new inbound call from ``from_`` with a bad signature."""
        raise NotImplementedError

    # -- media --------------------------------------------------------------------------------

    def media_caller(self, provider_call_id: str) -> Any:
        """Async context manager: the carrier's side of the call's media stream, as a
        :class:`MediaCaller` (waits until the carrier was told to open the stream)."""
        raise NotImplementedError


class SimulatedCarrier(CarrierHarness):
    """A carrier played by one of our simulators, which keep ``calls`` (by provider call id,
    each with ``hangups`` and ``spoken``) and ``requests`` (every REST request): what the
    observations that read them have in common, and how the simulator runs: a subclass says
    how to start its own (:meth:`simulate`) with the suite's callee timings."""

    # The simulated callee's timings for every carrier (seconds): quick, but in order.
    CALLEE_TIMINGS: ClassVar[Mapping[str, float]] = {
        "ring_delay_s": 0.02, "answer_delay_s": 0.05, "reply_delay_s": 0.05}

    def __init__(self) -> None:
        self.sim: Any = None
        self.plan: CalleePlan | None = None
        self.webhook_url = ""

    @asynccontextmanager
    async def running(self, plan: CalleePlan) -> AsyncIterator[None]:
        self.plan = plan
        async with self.simulate(list(plan.replies)) as sim:
            self.sim = sim
            yield

    def simulate(self, replies: list[str]) -> AbstractAsyncContextManager[Any]:
        """The carrier's simulator (an async context manager yielding it) with a callee that
        says ``replies`` on :data:`CALLEE_TIMINGS`."""
        raise NotImplementedError

    def hangups(self, provider_call_id: str) -> int:
        call = self.sim.calls.get(provider_call_id)
        return 0 if call is None else call.hangups

    def heard(self, provider_call_id: str) -> list[str] | None:
        call = self.sim.calls.get(provider_call_id)
        return [] if call is None else list(call.spoken)

    def activity(self) -> int:
        return len(self.sim.requests)

    def status_queries(self, provider_call_id: str) -> int | None:
        return sum(1 for r in self.sim.requests
                   if r.method == "GET" and self.is_status_path(r.path, provider_call_id))

    def dials(self) -> int:
        return sum(1 for r in self.sim.requests if r.method == "POST" and self.is_dial_path(r.path))

    def recordings(self, provider_call_id: str) -> list[tuple[str, int]]:
        return [(r.url, r.duration_s) for r in self.sim.recordings.get(provider_call_id, [])]

    def is_status_path(self, path: str, provider_call_id: str) -> bool:
        raise NotImplementedError

    def is_dial_path(self, path: str) -> bool:
        raise NotImplementedError


class MediaCaller:
    """The carrier's end of a media stream, as the tests see it.

    ``frames``: (arrival time on ``trio.current_time()``, payload) of every audio frame the
    daemon sent; ``frame_bytes``: the payload size of one 20 ms frame; ``marks_received`` /
    ``marks_acknowledged``: mark names, in order; ``clears``: arrival times of ``clear``.
    With ``hold_marks`` set, marks are received but not acknowledged until
    :meth:`release_marks` (playback that has not finished on the carrier's side).
    """

    frame_bytes: int
    frames: list[tuple[float, bytes]]
    marks_received: list[str]
    marks_acknowledged: list[str]
    clears: list[float]
    hold_marks: bool

    async def release_marks(self) -> None:
        raise NotImplementedError

    async def talk(self, seconds: float) -> None:
        """The caller speaks for ``seconds`` (loud audio at real-time pace), then the line is
        quiet for a moment, as a phone line is between words."""
        raise NotImplementedError
