"""Inbound stream slots are taken when the stream is handed out (issue #14, the
``streaming.maxInboundStreams`` race): the carrier connects a stream some time after it got the
stream TwiML/XML, and a second inbound caller whose webhook arrives in that gap must wait on
hold, not get a second stream. The registry reserves the slot with the inbound caller's token;
the reservation becomes the stream when it starts, and frees when the token expires unused,
when the call ends, or (as the stream) when the stream stops.

The hold queue's side (it counts reservations and is woken when one frees) runs on a real
manager, store and registry under trio's MockClock, like ``test_hold_queue.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import trio
import trio.testing

from voicecall_cli.daemon.calls.holdqueue import RECHECK_S
from voicecall_cli.daemon.calls.service import run_calls
from voicecall_cli.daemon.media.registry import Stream, StreamRegistry

from .test_hold_queue import HoldingCarrier, holding_manager, inbound

CALL_A = "CA000000000000000000000000000000aa"
CALL_B = "CA000000000000000000000000000000bb"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def started(registry: StreamRegistry, call: str, *, inbound_call: bool = True) -> Stream:
    """What the endpoint does when a stream's start is accepted: spend, then add."""
    registry.spend_token(call)
    stream = Stream(call, f"MZ-{call}", playback=None, inbound=inbound_call)  # type: ignore[arg-type]
    registry.add(stream)
    return stream


def test_a_stream_handed_to_an_inbound_caller_takes_the_slot_before_it_connects() -> None:
    registry = StreamRegistry(max_inbound_streams=1)
    assert registry.admits_inbound()
    registry.token(CALL_A, inbound=True)  # the first caller's stream TwiML went out
    assert not registry.admits_inbound()  # the second caller holds: no stream started yet
    started(registry, CALL_A)
    assert not registry.admits_inbound()  # the reservation became the stream: still one
    assert registry.inbound_slots_taken() == 1


def test_outbound_tokens_take_no_inbound_slot() -> None:
    registry = StreamRegistry(max_inbound_streams=1)
    registry.token(CALL_A)
    registry.token(CALL_B, inbound=False)
    assert registry.admits_inbound()


def test_asking_again_for_the_same_call_takes_one_slot() -> None:
    registry = StreamRegistry(max_inbound_streams=2)
    registry.token(CALL_A, inbound=True)
    registry.token(CALL_A, inbound=True)  # a retry, the TwiML fetched again
    assert registry.admits_inbound() and registry.inbound_slots_taken() == 1
    started(registry, CALL_A)
    registry.token(CALL_A, inbound=True)  # the live stream already has its slot
    assert registry.inbound_slots_taken() == 1
    registry.token(CALL_B, inbound=True)
    assert not registry.admits_inbound()


def test_the_slot_frees_when_the_stream_stops() -> None:
    registry = StreamRegistry(max_inbound_streams=1)
    registry.token(CALL_A, inbound=True)
    stream = started(registry, CALL_A)
    registry.remove(stream)
    assert registry.admits_inbound()


def test_an_unused_reservation_frees_when_its_token_expires_and_says_so() -> None:
    clock = FakeClock()
    released: list[int] = []
    registry = StreamRegistry(max_inbound_streams=1, token_ttl_s=100.0, clock=clock)
    registry.on_release = lambda: released.append(1)
    registry.token(CALL_A, inbound=True)
    clock.now += 99.9
    assert not registry.admits_inbound() and released == []
    clock.now += 0.2  # the carrier never connected: the token died, and the slot with it
    assert registry.admits_inbound()
    assert released == [1]


def test_an_unused_reservation_frees_when_the_call_ends_and_its_token_dies() -> None:
    released: list[int] = []
    registry = StreamRegistry(max_inbound_streams=1)
    registry.on_release = lambda: released.append(1)
    token = registry.token(CALL_A, inbound=True)
    registry.release(CALL_A)
    assert registry.admits_inbound() and released == [1]
    assert not registry.check_token(CALL_A, token)  # a late stream for the ended call
    registry.release(CALL_A)  # nothing more to free
    assert released == [1]


def test_release_leaves_a_live_stream_counted() -> None:
    registry = StreamRegistry(max_inbound_streams=1)
    registry.token(CALL_A, inbound=True)
    started(registry, CALL_A)
    registry.release(CALL_A)  # the call ended: its socket's end removes the stream
    assert not registry.admits_inbound()


async def test_the_hold_queue_counts_reservations_and_wakes_when_one_frees(
        tmp_path: Path, env_nursery: trio.Nursery, clock: trio.testing.MockClock) -> None:
    """p1 was handed its stream (reserved) but the carrier has not connected it: held p2
    is not connected, however long it waits, until p1's token expires unused; then p2 is
    connected at once (woken by the release, not at the next recheck)."""
    clock.autojump_threshold = math.inf

    async def settle(seconds: float = 0.0) -> None:
        clock.jump(seconds)
        await trio.testing.wait_all_tasks_blocked()

    ttl = RECHECK_S * 10 + 0.5  # expires between two rechecks
    registry = StreamRegistry(max_inbound_streams=1, token_ttl_s=ttl, clock=trio.current_time)
    carrier = HoldingCarrier(held=["p2"], outcomes={"p2": ["ok"]})
    manager = holding_manager(tmp_path, carrier, registry)
    registry.token("p1", inbound=True)  # p1's stream TwiML went out; no start yet
    await env_nursery.start(run_calls, manager)
    for pid in ("p1", "p2"):
        inbound(manager, pid)

    def connects() -> list[str]:
        return [pid for _, pid in carrier.of("connect")]

    await settle(RECHECK_S * 10)
    assert connects() == []  # the slot is p1's though no stream started
    # a webhook looks at the registry just after the expiry: the release wakes the queue
    clock.jump(1.0)
    assert registry.admits_inbound()
    await trio.testing.wait_all_tasks_blocked()
    assert connects() == ["p2"]


async def test_a_reservation_frees_when_its_call_ends(
        tmp_path: Path, env_nursery: trio.Nursery, clock: trio.testing.MockClock) -> None:
    clock.autojump_threshold = math.inf
    registry = StreamRegistry(max_inbound_streams=1, clock=trio.current_time)
    carrier = HoldingCarrier(held=["p2"], outcomes={"p2": ["ok"]})
    manager = holding_manager(tmp_path, carrier, registry)
    registry.token("p1", inbound=True)  # p1's stream TwiML went out; no start yet
    await env_nursery.start(run_calls, manager)
    first = inbound(manager, "p1")
    inbound(manager, "p2")
    clock.jump(RECHECK_S * 3)
    await trio.testing.wait_all_tasks_blocked()
    assert carrier.of("connect") == []
    call = manager.calls[first]
    manager.end_locally(call, "hangup-user")  # p1 hangs up before its stream connected
    await trio.testing.wait_all_tasks_blocked()  # no time passes
    assert [pid for _, pid in carrier.of("connect")] == ["p2"]
