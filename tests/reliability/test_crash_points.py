"""kill -9 of a real daemon at seeded random points of calls, on every carrier (issue #14).

Per carrier (mock, and Twilio, Telnyx and Plivo through their simulators) one session runs
one crash point per phase, each at a seeded random moment: a call is placed, the daemon is
killed with SIGKILL while the call rings, waits or is in the middle of a ``continue`` turn,
and a new daemon is started on the same store. Then: nothing acknowledged is lost (every
event ``tail`` had shown, the call, a ``continue`` answer that had been returned), nothing
is dialled again (the carrier's dial count), and the call does not hang in the air (it is
live and answered, or ended), after which it is ended to free its slot for the next point.
"""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import pytest
import trio

from tests.conformance.carriers import HARNESSES, CarrierHarness
from tests.conformance.session import TERMINAL, Session, open_session

pytestmark = pytest.mark.reliability

SEED = 1414
PHASES = ("ringing", "idle", "mid-turn")  # one crash point in each, per carrier
RING_TIMEOUT_MS = 2500  # also the carrier's own ring timeout: above ANSWER_DELAY_S
ANSWER_DELAY_S = 1.0  # the callee answers this long after ringing: the kill finds it ringing


class Turn(threading.Thread):
    """A ``continue`` run by the CLI in a thread, killed or not with the daemon."""

    def __init__(self, s: Session, call_id: str) -> None:
        super().__init__(daemon=True)
        self.s, self.call_id, self.result = s, call_id, None

    def run(self) -> None:
        self.result = self.s.daemon.cli("continue", "--call-id", self.call_id, "--message",
                                        "Does ten work?", "--json", timeout=30)


async def crash_point(s: Session, carrier: CarrierHarness, phase: str,
                      rnd: random.Random) -> None:
    call_id = await s.place("Hi, this is the clinic calling.")
    if phase != "ringing":
        await s.answered(call_id)
    turn = None
    if phase == "mid-turn":
        turn = Turn(s, call_id)
        turn.start()
    await trio.sleep(rnd.uniform(0.0, 0.3))
    acknowledged = await s.events()
    dials = carrier.dials()
    await s.kill9()
    if turn is not None:
        await trio.to_thread.run_sync(turn.join, 30)
    await s.start()

    kept = {e["cursor"]: e for e in await s.events()}
    lost = [e for e in acknowledged if kept.get(e["cursor"]) != e]
    assert lost == [], (phase, lost)
    call = await s.call(call_id)  # the acknowledged call is there
    if turn is not None and turn.result is not None and turn.result.returncode == 0:
        answer = json.loads(turn.result.stdout)["transcript"]
        assert answer in [t["text"] for t in call["transcript"]], (phase, call)
    # Pre-answer calls progress or end (by ringTimeoutMs at the latest); none hangs.
    settled = await s.wait_call(call_id, lambda c: c["answeredAt"] or c["endedAt"],
                                f"the call restored while {phase} to move on",
                                timeout=RING_TIMEOUT_MS / 1000 + 10)
    assert carrier.dials() == dials, (phase, "re-dialled")
    if settled["state"] not in TERMINAL:
        await s.cli("end", "--call-id", call_id, check=True)
    await s.wait_call(call_id, lambda c: c["endedAt"], "the end")
    assert carrier.dials() == dials, (phase, "re-dialled")


@pytest.mark.parametrize("harness", HARNESSES, ids=[h.name for h in HARNESSES])
async def test_kill_9_at_random_points_loses_nothing_and_never_redials(
        harness: type[CarrierHarness]) -> None:
    carrier = harness()
    base_config = carrier.config

    def config(plan: Any) -> dict[str, Any]:
        config = {**base_config(plan), "ringTimeoutMs": RING_TIMEOUT_MS}
        if "mock" in config:
            config["mock"] = {**config["mock"], "answerDelayMs": int(ANSWER_DELAY_S * 1000)}
        return config

    carrier.config = config  # type: ignore[method-assign]
    timings = getattr(carrier, "CALLEE_TIMINGS", None)
    if timings is not None:
        carrier.CALLEE_TIMINGS = {**timings, "answer_delay_s": ANSWER_DELAY_S}  # type: ignore[misc]
    rnd = random.Random(f"{SEED}-{harness.name}")
    with trio.fail_after(30 * len(PHASES)):
        async with open_session(carrier) as s:
            for phase in PHASES:
                await crash_point(s, carrier, phase, rnd)
            assert await s.active() == []
